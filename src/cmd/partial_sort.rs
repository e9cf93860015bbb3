//! Redis' `pqsort`: the Bentley–McIlroy quicksort of NetBSD's libc, which
//! recurses only into partitions that overlap a wanted index range. SORT
//! with BY and LIMIT, and geo searches with COUNT, order their results with
//! it; it is not stable, so elements that compare equal come out in the
//! order this exact algorithm leaves them. Reproducing it step by step is
//! what makes those ties come out as on redis-server.

use std::cmp::Ordering;

/// Sorts `v` so that positions `lrange..=rrange` hold what a full sort
/// would put there (in Redis' tie order); other positions are only
/// partitioned. The bounds are signed like Redis' (`end` is -1 for an
/// empty LIMIT).
pub fn pqsort<T>(v: &mut [T], lrange: i64, rrange: i64, cmp: &impl Fn(&T, &T) -> Ordering) {
    partial(v, 0, v.len(), lrange, rrange, cmp);
}

/// The median of three positions, by Redis' `med3`.
fn med3<T>(v: &[T], a: usize, b: usize, c: usize, cmp: &impl Fn(&T, &T) -> Ordering) -> usize {
    let lt = |x: usize, y: usize| cmp(&v[x], &v[y]) == Ordering::Less;
    let gt = |x: usize, y: usize| cmp(&v[x], &v[y]) == Ordering::Greater;
    if lt(a, b) {
        if lt(b, c) {
            b
        } else if lt(a, c) {
            c
        } else {
            a
        }
    } else if gt(b, c) {
        b
    } else if lt(a, c) {
        a
    } else {
        c
    }
}

/// Swaps the `n` elements at `i..` with those at `j..`, pairwise.
fn vecswap<T>(v: &mut [T], i: usize, j: usize, n: usize) {
    for k in 0..n {
        v.swap(i + k, j + k);
    }
}

/// True when the sub-array `start..start + len` holds none of `lrange..=rrange`
/// (both bounds before it, or both after it).
fn outside(start: usize, len: usize, lrange: i64, rrange: i64) -> bool {
    let (first, last) = (start as i64, (start + len) as i64 - 1);
    (lrange < first && rrange < first) || (lrange > last && rrange > last)
}

/// `_pqsort` on `v[a..a + n]`.
fn partial<T>(
    v: &mut [T],
    mut a: usize,
    mut n: usize,
    lrange: i64,
    rrange: i64,
    cmp: &impl Fn(&T, &T) -> Ordering,
) {
    loop {
        if n < 7 {
            for pm in a + 1..a + n {
                let mut pl = pm;
                while pl > a && cmp(&v[pl - 1], &v[pl]) == Ordering::Greater {
                    v.swap(pl, pl - 1);
                    pl -= 1;
                }
            }
            return;
        }
        let mut pm = a + n / 2;
        if n > 7 {
            let mut pl = a;
            let mut pn = a + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(v, pm - d, pm, pm + d, cmp);
                pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(v, pl, pm, pn, cmp);
        }
        v.swap(a, pm);
        let (mut pa, mut pb) = (a + 1, a + 1);
        let (mut pc, mut pd) = (a + n - 1, a + n - 1);
        loop {
            while pb <= pc {
                let r = cmp(&v[pb], &v[a]);
                if r == Ordering::Greater {
                    break;
                }
                if r == Ordering::Equal {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let r = cmp(&v[pc], &v[a]);
                if r == Ordering::Less {
                    break;
                }
                if r == Ordering::Equal {
                    v.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        let pn = a + n;
        let r = (pa - a).min(pb - pa);
        vecswap(v, a, pb - r, r);
        let r = (pd - pc).min(pn - pd - 1);
        vecswap(v, pb, pn - r, r);
        let left = pb - pa;
        if left > 1 && !outside(a, left, lrange, rrange) {
            partial(v, a, left, lrange, rrange, cmp);
        }
        let right = pd - pc;
        if right > 1 && !outside(pn - right, right, lrange, rrange) {
            a = pn - right;
            n = right;
            continue;
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn wanted_range_is_sorted(
            mut v in prop::collection::vec(0u8..20, 0..200),
            a in 0usize..200,
            len in 0usize..50,
        ) {
            let mut sorted = v.clone();
            sorted.sort_unstable();
            if v.is_empty() {
                return Ok(());
            }
            let l = a.min(v.len() - 1);
            let r = (l + len).min(v.len() - 1);
            pqsort(&mut v, l as i64, r as i64, &|x: &u8, y: &u8| x.cmp(y));
            prop_assert_eq!(&v[l..=r], &sorted[l..=r]);
            let mut all = v.clone();
            all.sort_unstable();
            prop_assert_eq!(all, sorted);
        }
    }

    #[test]
    fn ties_keep_redis_order() {
        // Keys compared by the first field only: the second shows where
        // each element went. Worked out by hand from pqsort.c for n < 7
        // (insertion sort: stable) and checked on larger inputs by
        // tests/sort.rs against redis-server.
        let mut v = vec![(1, 'a'), (0, 'b'), (1, 'c'), (0, 'd')];
        pqsort(&mut v, 0, 1, &|x: &(i32, char), y: &(i32, char)| {
            x.0.cmp(&y.0)
        });
        assert_eq!(v, vec![(0, 'b'), (0, 'd'), (1, 'a'), (1, 'c')]);
    }
}
