//! Ring costs: computing the whole slot map from a membership (done once per
//! epoch change) and looking up a slot's owner (done per routed request).

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use ringcache::cluster::ring::{compute, MemberState, RingMember, DEFAULT_VNODES};

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
