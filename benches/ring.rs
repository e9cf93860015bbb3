//! Ring costs: computing the whole slot map from a membership and balancing
//! a join into the committed owners (both done once per membership change),
//! and looking up a slot's owner (done per routed request).

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use ringcache::cluster::ring::{balance, compute, MemberState, RingMember, DEFAULT_VNODES};

fn members(n: usize) -> Vec<RingMember> {
    (0..n)
        .map(|i| RingMember {
            id: format!("{:040x}", i * 7919 + 1),
            weight: 1,
            state: MemberState::Active,
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring_compute");
    for n in [3usize, 16, 64] {
        let ms = members(n);
        g.bench_with_input(BenchmarkId::from_parameter(n), &ms, |b, ms| {
            b.iter(|| compute(black_box(ms), 1, DEFAULT_VNODES, 2))
        });
    }
    g.finish();
    let mut g = c.benchmark_group("ring_balance_join");
    for n in [3usize, 16, 64] {
        let before = members(n);
        let owners = balance(&before, |_| None);
        let map = compute(&before, 1, DEFAULT_VNODES, 1);
        let ids: Vec<&str> = owners
            .iter()
            .map(|&m| map.members[m as usize].as_str())
            .collect();
        let after = members(n + 1);
        g.bench_with_input(BenchmarkId::from_parameter(n), &after, |b, after| {
            b.iter(|| balance(black_box(after), |s| ids.get(s as usize).copied()))
        });
    }
    g.finish();
    let map = compute(&members(16), 1, DEFAULT_VNODES, 2);
    let mut s = 0u16;
    c.bench_function("ring_owner_lookup", |b| {
        b.iter(|| {
            s = (s + 7919) & 16383;
            black_box(map.owner(black_box(s)))
        })
    });
    c.bench_function("key_slot_and_owner", |b| {
        b.iter(|| map.owner(ringcache::store::key_slot(black_box(b"user:1000:profile"))))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
