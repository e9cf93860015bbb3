//! RESP request parsing and command dispatch (parse → table lookup → handler → reply).

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ringcache::cmd::client::Client;
use ringcache::cmd::{Dispatcher, Shared};
use ringcache::config::Settings;
use ringcache::resp::{parse_request, ParseLimits, Parsed, Reply};

fn pipeline(n: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for i in 0..n {
        let k = format!("key:{i}");
        v.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n$32\r\n{}\r\n",
                k.len(),
                "x".repeat(32)
            )
            .as_bytes(),
        );
    }
    v
}

fn parse(c: &mut Criterion) {
    let data = pipeline(100);
    let mut g = c.benchmark_group("resp");
    g.throughput(Throughput::Elements(100));
    g.bench_function("parse_100_set_commands", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(&data[..]);
            let mut n = 0;
            while let Ok(Parsed::Command(args)) = parse_request(&mut buf, ParseLimits::default()) {
                n += args.len();
            }
            black_box(n)
        })
    });
    g.bench_function("parse_inline", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(&b"SET key:1 \"some value\"\r\n"[..]);
            black_box(parse_request(&mut buf, ParseLimits::default()).is_ok())
        })
    });
    g.finish();
}

/// Parses and executes every command of `input`, then drops the replies.
fn run_batch(
    shared: &std::sync::Arc<Shared>,
    client: &mut Client,
    reply: &mut Reply,
    input: &[u8],
) {
    let mut buf = BytesMut::from(input);
    let mut dispatcher = Dispatcher::new(shared);
    while let Ok(Parsed::Command(args)) = parse_request(&mut buf, ParseLimits::default()) {
        let _ = dispatcher.dispatch(client, reply, 1, args);
    }
    reply.buf.clear();
}

fn dispatch(c: &mut Criterion) {
    let shared = Shared::new(Settings::default());
    let addr = "127.0.0.1:1".parse().expect("addr");
    let handle = shared.clients.register(addr, addr, 0);
    let mut client = Client::new(handle, true);
    let mut reply = Reply::new();
    let data = pipeline(100);
    let mut g = c.benchmark_group("dispatch");
    g.throughput(Throughput::Elements(100));
    let gets: Vec<u8> = (0..100)
        .flat_map(|i| {
            let k = format!("key:{i}");
            format!("*2\r\n$3\r\nGET\r\n${}\r\n{k}\r\n", k.len()).into_bytes()
        })
        .collect();
    for (name, input) in [("execute_100_set", &data), ("execute_100_get", &gets)] {
        g.bench_function(name, |b| {
            b.iter(|| run_batch(&shared, &mut client, &mut reply, input))
        });
    }
    g.finish();
}

criterion_group!(benches, parse, dispatch);
criterion_main!(benches);
