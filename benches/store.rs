//! Slot-table primitive choice: the store's per-slot `parking_lot` mutex tables
//! versus one `dashmap`, single-threaded and with 2 threads, GET-heavy (90/10)
//! and SET-heavy (10/90) mixes. The design asks for this measurement before
//! choosing the primitive.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dashmap::DashMap;
use ringcache::store::{Store, StrValue, Value};

const KEYS: usize = 100_000;
const OPS: usize = 20_000;

fn keys() -> Arc<Vec<Vec<u8>>> {
    Arc::new((0..KEYS).map(|i| format!("key:{i}").into_bytes()).collect())
}

fn store_ops(store: &Store, keys: &[Vec<u8>], seed: usize, get_pct: usize) {
    for i in 0..OPS {
        let k = &keys[(i * 7919 + seed) % KEYS];
        let key = store.key(k);
        let mut l = store.lock(0, &key, 1);
        if (i * 31 + seed) % 100 < get_pct {
            black_box(l.get(&key).is_some());
        } else {
            l.set(
                &key,
                Value::Str(StrValue::from_bytes(b"0123456789abcdef0123456789abcdef")),
                false,
                0,
            );
        }
    }
}

fn dash_ops(
    map: &DashMap<Vec<u8>, Vec<u8>, ahash::RandomState>,
    keys: &[Vec<u8>],
    seed: usize,
    get_pct: usize,
) {
    for i in 0..OPS {
        let k = &keys[(i * 7919 + seed) % KEYS];
        if (i * 31 + seed) % 100 < get_pct {
            black_box(map.get(k).is_some());
        } else {
            map.insert(k.clone(), b"0123456789abcdef0123456789abcdef".to_vec());
        }
    }
}

fn run_threads(threads: usize, f: impl Fn(usize) + Sync) {
    std::thread::scope(|s| {
        for t in 0..threads {
            let f = &f;
            s.spawn(move || f(t * 104_729));
        }
    });
}

fn compare(c: &mut Criterion) {
    let keys = keys();
    let store = Store::new(1);
    let dash: DashMap<Vec<u8>, Vec<u8>, ahash::RandomState> =
        DashMap::with_hasher(ahash::RandomState::new());
    for k in keys.iter() {
        let key = store.key(k);
        store
            .lock(0, &key, 1)
            .set(&key, Value::Str(StrValue::from_bytes(b"v")), false, 0);
        dash.insert(k.clone(), b"v".to_vec());
    }
    let mut g = c.benchmark_group("slot_table");
    for threads in [1usize, 2] {
        g.throughput(Throughput::Elements((OPS * threads) as u64));
        for (mix, pct) in [("get90", 90usize), ("set90", 10)] {
            g.bench_with_input(
                BenchmarkId::new(format!("slot_mutex_{mix}"), threads),
                &threads,
                |b, &t| b.iter(|| run_threads(t, |seed| store_ops(&store, &keys, seed, pct))),
            );
            g.bench_with_input(
                BenchmarkId::new(format!("dashmap_{mix}"), threads),
                &threads,
                |b, &t| b.iter(|| run_threads(t, |seed| dash_ops(&dash, &keys, seed, pct))),
            );
        }
    }
    g.finish();
}

criterion_group!(benches, compare);
criterion_main!(benches);
