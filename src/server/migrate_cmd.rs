//! The network side of MIGRATE (`cmd::dump_restore::migrate` serialized the
//! keys): connect to the target, send AUTH, SELECT and one RESTORE per key
//! as one pipeline, read the one-line replies with the command's timeout,
//! then delete the moved keys here (unless COPY) and answer as Redis 7.0's
//! `migrateCommand` does. No lock is held while waiting for the target; a
//! key changed meanwhile is not deleted (its value no longer matches what
//! was sent).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::cmd::migrate_plan::MigratePlan;
use crate::cmd::Shared;
use crate::resp::Reply;
use crate::store::{now_ms, rdb};

/// Appends one command as a RESP array of bulk strings.
fn push_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// The pipeline sent to the target.
fn pipeline(plan: &MigratePlan) -> Vec<u8> {
    let mut out = Vec::new();
    match &plan.auth {
        Some((Some(user), pass)) => push_command(&mut out, &[b"AUTH", user, pass]),
        Some((None, pass)) => push_command(&mut out, &[b"AUTH", pass]),
        None => {}
    }
    let db = plan.db.to_string();
    push_command(&mut out, &[b"SELECT", db.as_bytes()]);
    for item in &plan.items {
        let ttl = item.ttl_ms.to_string();
        let mut args: Vec<&[u8]> = vec![b"RESTORE", &item.key, ttl.as_bytes(), &item.payload];
        if plan.replace {
            args.push(b"REPLACE");
        }
        push_command(&mut out, &args);
    }
    out
}

/// The port as Redis reads it (C `atoi`: leading blanks, a sign, the
/// leading digits; 0 when there are none); None past 32-bit range.
fn c_atoi(s: &str) -> Option<i64> {
    let t = s.trim_start();
    let (neg, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return Some(0);
    }
    let n: i64 = digits.parse().ok().filter(|n| *n <= i64::from(i32::MAX))?;
    Some(if neg { -n } else { n })
}

/// Why the exchange stopped before every reply was read.
enum Failure {
    Connect,
    Write,
    Read,
}

/// Reads one reply line (without CRLF) within `limit`.
async fn read_line(
    r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    limit: Duration,
) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    match timeout(limit, r.read_until(b'\n', &mut line)).await {
        Ok(Ok(n)) if n > 0 && line.ends_with(b"\n") => {
            while matches!(line.last(), Some(b'\r' | b'\n')) {
                line.pop();
            }
            Some(line)
        }
        _ => None,
    }
}

/// Sends the plan and returns the reply line of each step (AUTH, SELECT,
/// then one per key; fewer when the connection failed midway).
async fn exchange(plan: &MigratePlan) -> Result<Vec<Vec<u8>>, (Failure, Vec<Vec<u8>>)> {
    let limit = Duration::from_millis(plan.timeout_ms);
    // Like Redis' non-blocking connect: an address that does not resolve or
    // a connection that does not complete in time fails "connecting"; a
    // refused one only shows when writing.
    // getaddrinfo takes the number modulo 2^16, as redis-server sees.
    let resolved = match c_atoi(&plan.port).map(|p| p as u16) {
        Some(port) => match timeout(limit, tokio::net::lookup_host((&*plan.host, port))).await {
            Ok(Ok(mut addrs)) => addrs.next(),
            _ => None,
        },
        None => None,
    };
    let Some(addr) = resolved else {
        return Err((Failure::Connect, Vec::new()));
    };
    let sock = match timeout(limit, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(_)) => return Err((Failure::Write, Vec::new())),
        Err(_) => return Err((Failure::Connect, Vec::new())),
    };
    let (read, mut write) = sock.into_split();
    if !matches!(
        timeout(limit, write.write_all(&pipeline(plan))).await,
        Ok(Ok(()))
    ) {
        return Err((Failure::Write, Vec::new()));
    }
    let mut read = BufReader::new(read);
    let expected = usize::from(plan.auth.is_some()) + 1 + plan.items.len();
    let mut lines = Vec::with_capacity(expected);
    for _ in 0..expected {
        match read_line(&mut read, limit).await {
            Some(l) => lines.push(l),
            None => return Err((Failure::Read, lines)),
        }
    }
    Ok(lines)
}

/// Runs a MIGRATE and appends its reply.
pub async fn run(shared: &Arc<Shared>, reply: &mut Reply, plan: MigratePlan) {
    let (lines, failure) = match exchange(&plan).await {
        Ok(lines) => (lines, None),
        Err((f, lines)) => (lines, Some(f)),
    };
    let head = usize::from(plan.auth.is_some()) + 1;
    // The first error among AUTH, SELECT and the RESTOREs, as the target said it.
    let target_error = lines.iter().find(|l| l.first() == Some(&b'-'));
    let setup_ok = lines.len() >= head && lines[..head].iter().all(|l| l.first() != Some(&b'-'));
    if setup_ok && !plan.copy {
        for (item, line) in plan.items.iter().zip(&lines[head..]) {
            if line.first() != Some(&b'-') {
                delete_if_unchanged(shared, plan.source_db, &item.key, &item.payload);
            }
        }
    }
    let text = match (target_error, failure) {
        (Some(e), _) => Some(format!(
            "ERR Target instance replied with error: {}",
            String::from_utf8_lossy(&e[1..])
        )),
        (None, Some(Failure::Connect)) => {
            Some("IOERR error or timeout connecting to the client".to_string())
        }
        (None, Some(Failure::Write)) => {
            Some("IOERR error or timeout writing to target instance".to_string())
        }
        (None, Some(Failure::Read)) => {
            Some("IOERR error or timeout reading to target instance".to_string())
        }
        (None, None) => None,
    };
    match text {
        Some(t) => {
            shared.stats.count_error(t.as_bytes());
            if !plan.silent {
                reply.error(&t);
            }
        }
        None if plan.silent => {}
        None => reply.ok(),
    }
}

/// Deletes `key` from `db` if it still holds the value that was sent.
fn delete_if_unchanged(shared: &Arc<Shared>, db: usize, key: &[u8], payload: &[u8]) {
    let k = shared.store.key(key);
    let mut slot = shared.store.lock(db, &k, now_ms());
    let same = slot
        .get(&k)
        .is_some_and(|e| rdb::encode::encode(e.value()) == payload);
    if same {
        slot.remove(&k);
    }
}
