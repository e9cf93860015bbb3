//! Small helpers shared by command families: Redis glob matching and number parsing.

/// Redis' `stringmatchlen`: glob with `*`, `?`, `[...]` (ranges, `^` negation) and `\` escapes.
///
/// Gives the same answer as Redis 7.0's recursive matcher for every input
/// (including its quirks: a pattern never matches an empty subject unless it
/// is empty itself, ranges compare bytes as C `char`, and a pattern with more
/// than 1000 non-final `*` runs never matches), but runs in
/// O(pattern × subject) time: a failed attempt only ever backtracks to the
/// latest `*`, which is what Redis' `skipLongerMatches` proves sufficient.
pub fn glob_match(pattern: &[u8], s: &[u8], nocase: bool) -> bool {
    // Redis' main loop needs both a pattern and a subject byte to start.
    if s.is_empty() {
        return pattern.is_empty();
    }
    let (mut p, mut i) = (0, 0);
    // Where to resume after a failure: the pattern just past the latest `*`
    // run and the subject position that run currently stops at.
    let mut retry: Option<(usize, usize)> = None;
    let mut stars = 0u32;
    loop {
        if p < pattern.len() {
            if pattern[p] == b'*' {
                while pattern.get(p + 1) == Some(&b'*') {
                    p += 1;
                }
                if p + 1 == pattern.len() {
                    return true;
                }
                stars += 1;
                if stars > MAX_STAR_NESTING {
                    return false; // Redis' recursion guard answers "no match"
                }
                p += 1;
                retry = Some((p, i));
                continue;
            }
            let (next, matched) = match_one(pattern, p, s[i], nocase);
            if matched {
                p = next;
                i += 1;
                if i < s.len() {
                    continue;
                }
                while pattern.get(p) == Some(&b'*') {
                    p += 1;
                }
                if p == pattern.len() {
                    return true;
                }
            }
        }
        // This attempt failed: let the latest `*` swallow one more byte.
        match retry {
            Some((rp, ri)) if ri + 1 < s.len() => {
                retry = Some((rp, ri + 1));
                p = rp;
                i = ri + 1;
            }
            _ => return false,
        }
    }
}

/// Redis stops recursing (and answers "no match") past this many nested `*`.
const MAX_STAR_NESTING: u32 = 1000;

/// Matches the single-byte pattern element at `pattern[p]` (a literal, `?`,
/// `\x` or a `[...]` class) against `c`: the index after the element, and
/// whether it matched.
fn match_one(pattern: &[u8], mut p: usize, c: u8, nocase: bool) -> (usize, bool) {
    let eq = |a: u8, b: u8| {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    match pattern[p] {
        b'?' => (p + 1, true),
        b'[' => {
            p += 1;
            let not = pattern.get(p) == Some(&b'^');
            if not {
                p += 1;
            }
            let mut matched = false;
            loop {
                let rest = pattern.len() - p;
                if rest >= 2 && pattern[p] == b'\\' {
                    p += 1;
                    matched |= pattern[p] == c;
                } else if rest == 0 {
                    break; // unterminated: the pattern's end closes the class
                } else if pattern[p] == b']' {
                    p += 1;
                    break;
                } else if rest >= 3 && pattern[p + 1] == b'-' {
                    // C `char` is signed here, and Redis swaps before lowering.
                    let (mut lo, mut hi) = (as_c_char(pattern[p]), as_c_char(pattern[p + 2]));
                    if lo > hi {
                        std::mem::swap(&mut lo, &mut hi);
                    }
                    let mut ch = as_c_char(c);
                    if nocase {
                        (lo, hi, ch) = (c_tolower(lo), c_tolower(hi), c_tolower(ch));
                    }
                    matched |= ch >= lo && ch <= hi;
                    p += 2;
                } else {
                    matched |= eq(pattern[p], c);
                }
                if rest != 0 {
                    p += 1;
                }
            }
            (p, matched != not)
        }
        b'\\' if pattern.len() - p >= 2 => (p + 2, eq(pattern[p + 1], c)),
        lit => (p + 1, eq(lit, c)),
    }
}

/// A byte as the (signed) C `char` Redis' matcher compares ranges with.
fn as_c_char(b: u8) -> i32 {
    i32::from(b as i8)
}

/// C `tolower` in the C locale, on a signed `char` value.
fn c_tolower(c: i32) -> i32 {
    if (i32::from(b'A')..=i32::from(b'Z')).contains(&c) {
        c + 32
    } else {
        c
    }
}

/// Strict integer parse, like Redis' `string2ll`: optional '-', no '+', no
/// leading zeros, no spaces, no overflow.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = if s[0] == b'-' {
        (true, &s[1..])
    } else {
        (false, s)
    };
    if digits.is_empty() || digits[0] < b'1' || digits[0] > b'9' {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((d - b'0') as u64)?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

/// Parses a float like Redis' `string2ld`/`strtod` checks: no spaces, no NaN.
pub fn parse_f64(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    if s.is_empty() || s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => {
            if lower.contains("nan") || lower.starts_with("0x") || lower.starts_with("-0x") {
                return None;
            }
            s.parse::<f64>().ok()?
        }
    };
    if v.is_nan() {
        None
    } else {
        Some(v)
    }
}

/// C `strtod` over `b` (up to its first NUL, as C sees it): the value, how
/// many bytes it consumed and whether it reported ERANGE. Redis parses its
/// floats with it, so hex floats, `inf`/`infinity` and leading blanks
/// behave as there.
pub fn c_strtod(b: &[u8]) -> (f64, usize, bool) {
    let visible = b.iter().position(|&c| c == 0).map_or(b, |n| &b[..n]);
    let Ok(text) = std::ffi::CString::new(visible) else {
        return (0.0, 0, false);
    };
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: `text` is a live NUL-terminated string; strtod only writes
    // `end` (a pointer into `text`) and errno, which is cleared first.
    let (value, erange) = unsafe {
        *libc::__errno_location() = 0;
        let v = libc::strtod(text.as_ptr(), &mut end);
        (v, *libc::__errno_location() == libc::ERANGE)
    };
    let consumed = (end as usize).saturating_sub(text.as_ptr() as usize);
    (value, consumed, erange)
}

/// Redis' `string2d` (`getDoubleFromObject`): the whole argument is a
/// number for `strtod`, without a leading blank, overflow, underflow to
/// zero or NaN.
pub fn string2d(b: &[u8]) -> Option<f64> {
    let (v, consumed, erange) = c_strtod(b);
    let blank = b
        .first()
        .is_some_and(|&c| c == b' ' || (b'\t'..=b'\r').contains(&c));
    let range_error = erange && (v.is_infinite() || v == 0.0);
    (!b.is_empty() && !blank && consumed == b.len() && !range_error && !v.is_nan()).then_some(v)
}

/// Parses a memory amount like redis.conf: `100`, `1k`, `1kb`, `2mb`, `1gb` (case-insensitive).
pub fn parse_memory(s: &str) -> Option<u64> {
    let l = s.trim().to_ascii_lowercase();
    let (num, mult) = if let Some(n) = l.strip_suffix("gb") {
        (n, 1024 * 1024 * 1024)
    } else if let Some(n) = l.strip_suffix("mb") {
        (n, 1024 * 1024)
    } else if let Some(n) = l.strip_suffix("kb") {
        (n, 1024)
    } else if let Some(n) = l.strip_suffix('g') {
        (n, 1_000_000_000)
    } else if let Some(n) = l.strip_suffix('m') {
        (n, 1_000_000)
    } else if let Some(n) = l.strip_suffix('k') {
        (n, 1000)
    } else if let Some(n) = l.strip_suffix('b') {
        (n, 1)
    } else {
        (l.as_str(), 1)
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

/// Sets SO_LINGER to 0 on a socket: closing it then resets the connection
/// and drops whatever the kernel has not sent yet (and leaves no TIME_WAIT).
/// Tokio's own `set_linger` is deprecated for blocking closes; a zero linger
/// never blocks.
pub fn reset_on_close(sock: &impl std::os::fd::AsRawFd) -> std::io::Result<()> {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket descriptor and a correctly sized linger value.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match(b"h?llo", b"hello", false));
        assert!(glob_match(b"h*llo", b"heeeello", false));
        assert!(glob_match(b"h[ae]llo", b"hallo", false));
        assert!(!glob_match(b"h[^e]llo", b"hello", false));
        assert!(glob_match(b"h[a-b]llo", b"hbllo", false));
        assert!(
            !glob_match(b"*", b"", false),
            "Redis never matches an empty subject"
        );
        assert!(glob_match(b"", b"", false));
        assert!(glob_match(b"a\\*b", b"a*b", false));
        assert!(!glob_match(b"a\\*b", b"axb", false));
        assert!(glob_match(b"MAXMEM*", b"maxmemory", true));
    }

    /// Redis 7.0.15's recursive `stringmatchlen_impl`, transcribed line by
    /// line (`skipLongerMatches`, the nesting guard, C's NUL-terminated reads
    /// past the end and signed `char` ranges): the reference `glob_match`
    /// must agree with.
    fn reference(p: &[u8], s: &[u8], nocase: bool, skip: &mut bool, nesting: u32) -> bool {
        if nesting > 1000 {
            return false;
        }
        let at = |v: &[u8], i: usize| v.get(i).copied().unwrap_or(0);
        let low = |c: i32| c_tolower(c);
        let (mut p, mut s) = (p, s);
        while !p.is_empty() && !s.is_empty() {
            match p[0] {
                b'*' => {
                    while !p.is_empty() && at(p, 1) == b'*' {
                        p = &p[1..];
                    }
                    if p.len() == 1 {
                        return true;
                    }
                    while !s.is_empty() {
                        if reference(&p[1..], s, nocase, skip, nesting + 1) {
                            return true;
                        }
                        if *skip {
                            return false;
                        }
                        s = &s[1..];
                    }
                    *skip = true;
                    return false;
                }
                b'?' => s = &s[1..],
                b'[' => {
                    p = &p[1..];
                    let not = at(p, 0) == b'^';
                    if not {
                        p = &p[1..];
                    }
                    let mut m = false;
                    let mut unterminated = false;
                    loop {
                        if at(p, 0) == b'\\' && p.len() >= 2 {
                            p = &p[1..];
                            m |= p[0] == s[0];
                        } else if at(p, 0) == b']' {
                            break;
                        } else if p.is_empty() {
                            unterminated = true;
                            break;
                        } else if p.len() >= 3 && p[1] == b'-' {
                            let (mut a, mut b) = (as_c_char(p[0]), as_c_char(p[2]));
                            let mut c = as_c_char(s[0]);
                            if a > b {
                                std::mem::swap(&mut a, &mut b);
                            }
                            if nocase {
                                (a, b, c) = (low(a), low(b), low(c));
                            }
                            p = &p[2..];
                            m |= c >= a && c <= b;
                        } else if nocase {
                            m |= low(as_c_char(p[0])) == low(as_c_char(s[0]));
                        } else {
                            m |= p[0] == s[0];
                        }
                        p = &p[1..];
                    }
                    if not {
                        m = !m;
                    }
                    if !m {
                        return false;
                    }
                    s = &s[1..];
                    if unterminated {
                        // C steps back one byte here and forward again below.
                        if s.is_empty() {
                            return true;
                        }
                        continue;
                    }
                }
                c => {
                    let c = if c == b'\\' && p.len() >= 2 {
                        p = &p[1..];
                        p[0]
                    } else {
                        c
                    };
                    let eq = if nocase {
                        low(as_c_char(c)) == low(as_c_char(s[0]))
                    } else {
                        c == s[0]
                    };
                    if !eq {
                        return false;
                    }
                    s = &s[1..];
                }
            }
            p = &p[1..];
            if s.is_empty() {
                while at(p, 0) == b'*' {
                    p = &p[1..];
                }
                break;
            }
        }
        p.is_empty() && s.is_empty()
    }

    fn redis_match(p: &[u8], s: &[u8], nocase: bool) -> bool {
        reference(p, s, nocase, &mut false, 0)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]
        #[test]
        fn glob_agrees_with_redis(
            p in proptest::collection::vec(proptest::sample::select(
                b"ab*?[]^-\\Az\xe9\xff".to_vec()), 0..10),
            s in proptest::collection::vec(proptest::sample::select(
                b"abAz*-]\\\xe9\xff".to_vec()), 0..8),
            nocase: bool,
        ) {
            proptest::prop_assert_eq!(glob_match(&p, &s, nocase), redis_match(&p, &s, nocase));
        }
    }

    #[test]
    fn glob_edge_cases_agree_with_redis() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"[a-", b"a"),
            (b"[a-", b"-"),
            (b"[", b"x"),
            (b"[^", b"x"),
            (b"[\\", b"\\"),
            (b"a[", b"ab"),
            (b"\\", b"\\"),
            (b"[]a]", b"a"),
            (b"[^]", b"q"),
            (b"[a-\xff]", b"\xfe"),
            (b"[a-\xff]", b"b"),
            (b"[Z-a]", b"q"),
            (b"*[", b"ab"),
            (b"a*", b"a"),
            (b"a**", b"a"),
            (b"*a*", b""),
        ];
        for &(p, s) in cases {
            for nocase in [false, true] {
                assert_eq!(
                    glob_match(p, s, nocase),
                    redis_match(p, s, nocase),
                    "{p:?} {s:?}"
                );
            }
        }
        // More than 1000 nested stars: Redis' guard answers "no match".
        let many = b"*a".repeat(1001);
        let subject = vec![b'a'; 1001];
        assert!(!glob_match(&many, &subject, false));
        assert!(glob_match(&b"*a".repeat(1000), &subject, false));
    }

    #[test]
    fn glob_is_not_exponential() {
        let subject = vec![b'a'; 60];
        let started = std::time::Instant::now();
        assert!(!glob_match(b"*a*a*a*a*a*a*a*ab", &subject, false));
        let many = b"*a".repeat(2000);
        assert!(!glob_match(&many, &vec![b'a'; 5000], false));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("1kb"), Some(1024));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("2GB"), Some(2 << 30));
        assert_eq!(parse_memory("x"), None);
    }

    #[test]
    fn long_double_increments() {
        assert_eq!(
            incr_long_double(Some(b"10.5"), b"0.1").as_deref(),
            Ok("10.6")
        );
        assert_eq!(incr_long_double(None, b"3.0e3").as_deref(), Ok("3000"));
        assert_eq!(incr_long_double(Some(b"x"), b"1"), Err(LdError::BadValue));
        assert_eq!(
            incr_long_double(Some(b"1"), b" 1"),
            Err(LdError::BadIncrement)
        );
        assert_eq!(incr_long_double(None, b"inf"), Err(LdError::NanOrInf));
    }

    #[test]
    fn floats() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b""), None);
    }

    #[test]
    fn string2d_follows_strtod() {
        assert_eq!(string2d(b"0x10"), Some(16.0));
        assert_eq!(string2d(b"0x1p-2"), Some(0.25));
        assert_eq!(string2d(b"-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(string2d(b"1e-310"), Some(1e-310));
        assert_eq!(string2d(b"1e400"), None);
        assert_eq!(string2d(b"1e-400"), None);
        assert_eq!(string2d(b" 1"), None);
        assert_eq!(string2d(b"1 "), None);
        assert_eq!(string2d(b"1\x002"), None);
        assert_eq!(string2d(b""), None);
        assert_eq!(string2d(b"nan"), None);
        assert_eq!(c_strtod(b" 7x"), (7.0, 2, false));
    }
}

extern "C" {
    fn rc_ld_add(
        a: *const u8,
        alen: usize,
        b: *const u8,
        blen: usize,
        out: *mut u8,
        outlen: usize,
    ) -> i32;
}

/// Why a long double increment failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LdError {
    /// The current value is not a float.
    BadValue,
    /// The increment is not a float.
    BadIncrement,
    /// The result is NaN or infinite.
    NanOrInf,
}

/// `current + incr` in C long double, formatted like Redis' INCRBYFLOAT
/// (`%.17Lf` with trailing zeros removed). `None` current means 0.
pub fn incr_long_double(current: Option<&[u8]>, incr: &[u8]) -> Result<String, LdError> {
    let mut out = [0u8; 6 * 1024];
    let (ap, al) = current
        .map(|c| (c.as_ptr(), c.len()))
        .unwrap_or((std::ptr::null(), 0));
    // SAFETY: pointers and lengths describe live slices; the C side bounds its writes by outlen.
    let n = unsafe {
        rc_ld_add(
            ap,
            al,
            incr.as_ptr(),
            incr.len(),
            out.as_mut_ptr(),
            out.len(),
        )
    };
    match n {
        -1 => Err(LdError::BadValue),
        -2 => Err(LdError::BadIncrement),
        n if n < 0 => Err(LdError::NanOrInf),
        n => Ok(String::from_utf8_lossy(&out[..n as usize]).into_owned()),
    }
}
