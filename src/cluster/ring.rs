//! The virtual-node consistent-hash ring: a pure function from an agreed
//! membership (ids, weights, states) and its epoch to the owner list of every
//! one of the 16384 Redis Cluster slots. Every node computes the identical map
//! from the same input, so the map itself never crosses the wire.
//!
//! # Hash specification (stable; used for placement on every node)
//!
//! - Each member with state [`MemberState::Active`] and weight `w >= 1` holds
//!   `vnodes * w` tokens (default `vnodes` = [`DEFAULT_VNODES`] = 1024; every
//!   node of a cluster must use the same value, it is part of this spec).
//! - Token `i` (`0 <= i < vnodes * w`) of member `N` is the 64-bit ring point
//!   `XXH3_64bits(N.id as ASCII bytes || (i as u32, little endian))`
//!   (xxHash XXH3, 64-bit output, seed 0 — `xxhash_rust::xxh3::xxh3_64`).
//!   The id is the member's 40 lowercase hex characters.
//! - Slot `s` (0..16384) sits at ring point `s << 50`.
//! - The preference list of slot `s` is the first `R` *distinct* members met
//!   walking clockwise (increasing points, wrapping at 2^64) from the first token
//!   whose point is `>= s << 50`. Two tokens at the same point are ordered by
//!   member id, then token index, so ties are deterministic too.
//! - Members in another state (failed, leaving) hold no tokens.
//!
//! # Balance (why 1024 tokens)
//!
//! Because a member's tokens depend only on its own id, adding a member moves
//! slots only to it and removing one moves only its slots, exactly. Shares
//! are statistical: a member's share has a relative standard deviation of
//! about `1/sqrt(tokens)` from the token gaps, plus the granularity of 16384
//! slots (at 64 members a fair share is 256 slots). Measured over 3..64
//! equal members: worst share 27% off fair at 128 tokens, 18% at 512, 16% at
//! 1024 (the bound is 20%). A join moves on average exactly the fair
//! share `16384/(N+1)` with a 4.4% standard deviation at 1024 tokens: about
//! 98% of joins stay within the 1.1× bound, the worst of 300 random
//! joins moved 1.14× (at 128 tokens the deviation is 8.8% and joins reached
//! 1.22×). A token ring cannot bound *every* join at 1.1× here: the newcomer's
//! share spreads like any member's, and more tokens stop helping once arcs get
//! shorter than a slot (the 16384-slot granularity). A strict bound would need
//! placement that depends on the join history, not only on the membership
//! (see docs/CLUSTER.md).
//! Cost: the map is computed once per membership change (about 1 ms for 3
//! members, 7 ms for 64, release build); lookups index the computed map.
//!
//! Never replace this hash by `ahash` or std's `Hasher`: those are seeded per
//! process and would give every node a different ring.

use xxhash_rust::xxh3::xxh3_64;

use crate::store::SLOTS;

/// Tokens per unit of weight.
pub const DEFAULT_VNODES: u32 = 1024;
/// Default replication factor (primary + one backup).
pub const DEFAULT_REPLICAS: usize = 2;

/// Whether a member currently takes part in placement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberState {
    /// Owns tokens.
    Active,
    /// Known but holds no tokens (failed or leaving).
    Inactive,
}

/// One member as the ring sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingMember {
    /// 40-hex node id.
    pub id: String,
    /// Relative capacity (tokens = vnodes × weight).
    pub weight: u32,
    /// Placement state.
    pub state: MemberState,
}

/// The slot → preference-list map computed from one membership.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotMap {
    /// Epoch of the membership the map was computed from.
    pub epoch: u64,
    /// Replication factor the map was computed with.
    pub replicas: usize,
    /// Member ids, sorted; the map refers to members by index into this.
    pub members: Vec<String>,
    /// `replicas` entries per slot (fewer members than `replicas`: padded by
    /// repeating the primary), indexes into `members`. Empty when no member is active.
    prefs: Vec<u16>,
}

/// Ring point of token `i` of member `id` (see the module's hash specification).
pub fn token(id: &str, i: u32) -> u64 {
    let id = id.as_bytes();
    let mut small = [0u8; 64];
    if let Some(buf) = small.get_mut(..id.len() + 4) {
        // Node ids are 40 bytes: no allocation per token.
        buf[..id.len()].copy_from_slice(id);
        buf[id.len()..].copy_from_slice(&i.to_le_bytes());
        return xxh3_64(buf);
    }
    let mut buf = Vec::with_capacity(id.len() + 4);
    buf.extend_from_slice(id);
    buf.extend_from_slice(&i.to_le_bytes());
    xxh3_64(&buf)
}

/// Ring point of slot `s`.
pub fn slot_point(slot: u16) -> u64 {
    u64::from(slot) << 50
}

/// Computes the slot map for `members` at `epoch`.
pub fn compute(members: &[RingMember], epoch: u64, vnodes: u32, replicas: usize) -> SlotMap {
    let mut ids: Vec<String> = members.iter().map(|m| m.id.clone()).collect();
    ids.sort();
    ids.dedup();
    // (point, member index, token index): sorted, ties broken by id then token.
    let mut tokens: Vec<(u64, u16, u32)> = Vec::new();
    for m in members.iter().filter(|m| m.state == MemberState::Active) {
        let Ok(idx) = ids.binary_search(&m.id) else {
            continue;
        };
        for i in 0..vnodes.saturating_mul(m.weight) {
            tokens.push((token(&m.id, i), idx as u16, i));
        }
    }
    tokens.sort_unstable();
    tokens.dedup();
    let active = {
        let mut v: Vec<u16> = tokens.iter().map(|t| t.1).collect();
        v.sort_unstable();
        v.dedup();
        v.len()
    };
    let replicas = replicas.max(1);
    let mut prefs = Vec::new();
    if !tokens.is_empty() {
        prefs.reserve(SLOTS * replicas);
        let want = replicas.min(active);
        for s in 0..SLOTS as u16 {
            let p = slot_point(s);
            let start = tokens.partition_point(|t| t.0 < p);
            let base = prefs.len();
            let mut k = 0;
            while prefs.len() - base < want {
                let m = tokens[(start + k) % tokens.len()].1;
                if !prefs[base..].contains(&m) {
                    prefs.push(m);
                }
                k += 1;
            }
            let primary = prefs[base];
            prefs.resize(base + replicas, primary);
        }
    }
    SlotMap {
        epoch,
        replicas,
        members: ids,
        prefs,
    }
}

impl SlotMap {
    /// True when no member holds tokens (no slot is served).
    pub fn is_empty(&self) -> bool {
        self.prefs.is_empty()
    }

    /// Index (into `members`) of the primary of `slot`.
    pub fn owner(&self, slot: u16) -> Option<usize> {
        self.prefs
            .get(slot as usize * self.replicas)
            .map(|&m| m as usize)
    }

    /// Id of the primary of `slot`.
    pub fn owner_id(&self, slot: u16) -> Option<&str> {
        self.owner(slot).map(|i| self.members[i].as_str())
    }

    /// Distinct members responsible for `slot`, primary first.
    pub fn preference(&self, slot: u16) -> Vec<usize> {
        let r = self.replicas;
        let start = slot as usize * r;
        let mut out: Vec<usize> = Vec::with_capacity(r);
        for &m in self.prefs.get(start..start + r).unwrap_or(&[]) {
            if !out.contains(&(m as usize)) {
                out.push(m as usize);
            }
        }
        out
    }

    /// Contiguous slot ranges owned by member index `m`, ascending.
    pub fn ranges_of(&self, m: usize) -> Vec<(u16, u16)> {
        self.ranges()
            .into_iter()
            .filter(|r| r.2 == m)
            .map(|r| (r.0, r.1))
            .collect()
    }

    /// Every maximal run of slots with one primary: `(first, last, member index)`.
    pub fn ranges(&self) -> Vec<(u16, u16, usize)> {
        let mut out: Vec<(u16, u16, usize)> = Vec::new();
        for s in 0..SLOTS as u16 {
            let Some(o) = self.owner(s) else { break };
            match out.last_mut() {
                Some(last) if last.2 == o && last.1 + 1 == s => last.1 = s,
                _ => out.push((s, s, o)),
            }
        }
        out
    }

    /// Number of slots whose primary is member index `m`.
    pub fn count_of(&self, m: usize) -> usize {
        (0..SLOTS as u16)
            .filter(|&s| self.owner(s) == Some(m))
            .count()
    }

    /// Index of member `id`.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.members.binary_search_by(|m| m.as_str().cmp(id)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(n: u64) -> String {
        format!("{:040x}", xxh3_64(&n.to_le_bytes()))
    }

    fn members(n: usize) -> Vec<RingMember> {
        (0..n as u64)
            .map(|i| RingMember {
                id: id(i),
                weight: 1,
                state: MemberState::Active,
            })
            .collect()
    }

    fn owners(map: &SlotMap) -> Vec<Option<&str>> {
        (0..SLOTS as u16).map(|s| map.owner_id(s)).collect()
    }

    #[test]
    fn hash_spec_is_stable() {
        // Pinned values: changing them silently re-shuffles every cluster.
        assert_eq!(token("0000000000000000000000000000000000000000", 0), {
            let mut b = b"0000000000000000000000000000000000000000".to_vec();
            b.extend_from_slice(&0u32.to_le_bytes());
            xxh3_64(&b)
        });
        assert_eq!(xxh3_64(b""), 0x2D06800538D394C2);
        assert_eq!(slot_point(1), 1 << 50);
        assert_eq!(slot_point(16383), 16383u64 << 50);
    }

    #[test]
    fn empty_and_single() {
        let m = compute(&[], 1, DEFAULT_VNODES, 2);
        assert!(m.is_empty());
        assert_eq!(m.owner(0), None);
        let m = compute(&members(1), 1, DEFAULT_VNODES, 2);
        assert_eq!(m.count_of(0), SLOTS);
        assert_eq!(m.preference(5), vec![0]);
        assert_eq!(m.ranges(), vec![(0, 16383, 0)]);
    }

    #[test]
    fn preference_lists_are_distinct() {
        let m = compute(&members(5), 3, DEFAULT_VNODES, 3);
        for s in 0..SLOTS as u16 {
            let p = m.preference(s);
            assert_eq!(p.len(), 3);
            assert_eq!(p[0], m.owner(s).expect("owner"));
        }
    }

    /// The balance criterion at the default: every member's share
    /// within ±20% of fair for 3..64 equal members (measured worst: 16.4%;
    /// 27% with the former 128 tokens).
    #[test]
    fn fair_shares_3_to_64() {
        let mut worst = 0f64;
        for n in 3..=64 {
            let map = compute(&members(n), 1, DEFAULT_VNODES, 2);
            let fair = SLOTS as f64 / n as f64;
            for i in 0..n {
                worst = worst.max((map.count_of(i) as f64 - fair).abs() / fair);
            }
        }
        assert!(worst <= 0.20, "{worst}");
    }

    fn moved_on_add(n: usize, seed: u64, vnodes: u32) -> (f64, bool) {
        let ms: Vec<RingMember> = (0..n as u64)
            .map(|i| RingMember {
                id: id(seed.wrapping_add(i)),
                weight: 1,
                state: MemberState::Active,
            })
            .collect();
        let before = compute(&ms, 1, vnodes, 2);
        let mut grown = ms.clone();
        let new_id = id(seed.wrapping_add(1_000_000));
        grown.push(RingMember {
            id: new_id.clone(),
            weight: 1,
            state: MemberState::Active,
        });
        let after = compute(&grown, 2, vnodes, 2);
        let (b, a) = (owners(&before), owners(&after));
        let moved: Vec<usize> = (0..SLOTS).filter(|&s| b[s] != a[s]).collect();
        let all_to_new = moved.iter().all(|&s| a[s] == Some(new_id.as_str()));
        let ratio = moved.len() as f64 / (SLOTS as f64 / (n + 1) as f64);
        (ratio, all_to_new)
    }

    /// Joins at the default: every moved slot goes to the newcomer; the amount
    /// is the fair share on average, within the 1.1× for all but a few
    /// percent of joins (see the module doc: a strict bound is not possible for
    /// this kind of placement).
    #[test]
    fn joins_move_about_a_fair_share_all_to_the_newcomer() {
        let (mut over, mut worst, mut sum) = (0, 0f64, 0f64);
        let joins = 60u64;
        for k in 0..joins {
            let n = 3 + (k as usize * 7) % 62;
            let (ratio, all_to_new) =
                moved_on_add(n, k.wrapping_mul(0x9E37_79B9_7F4A_7C15), DEFAULT_VNODES);
            assert!(all_to_new, "n={n}");
            over += usize::from(ratio > 1.1);
            worst = worst.max(ratio);
            sum += ratio;
        }
        let mean = sum / joins as f64;
        assert!((0.97..=1.03).contains(&mean), "mean {mean}");
        assert!(
            over <= 3,
            "{over} of {joins} joins moved more than 1.1x fair"
        );
        assert!(worst <= 1.25, "worst {worst}");
    }

    #[test]
    fn weight_two_gets_double() {
        let mut ms = members(8);
        ms[0].weight = 2;
        let map = compute(&ms, 1, DEFAULT_VNODES, 2);
        let heavy = map.count_of(map.index_of(&ms[0].id).expect("member")) as f64;
        let fair_unit = SLOTS as f64 / 9.0;
        assert!(
            (heavy - 2.0 * fair_unit).abs() <= 0.2 * 2.0 * fair_unit,
            "{heavy}"
        );
    }

    #[test]
    fn inactive_members_hold_nothing() {
        let mut ms = members(4);
        ms[2].state = MemberState::Inactive;
        let map = compute(&ms, 1, DEFAULT_VNODES, 2);
        assert_eq!(map.count_of(map.index_of(&ms[2].id).expect("member")), 0);
        assert_eq!(map.members.len(), 4);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn adding_moves_slots_only_to_newcomer(n in 3usize..40, seed in any::<u64>()) {
            let (ratio, all_to_new) = moved_on_add(n, seed, DEFAULT_VNODES);
            prop_assert!(all_to_new);
            // 6.8 standard deviations at 1024 tokens: never reached by chance.
            prop_assert!(ratio <= 1.3, "moved {} x fair", ratio);
        }

        #[test]
        fn removing_moves_only_its_slots(n in 4usize..40, seed in any::<u64>(), victim in any::<prop::sample::Index>()) {
            let ms: Vec<RingMember> = (0..n as u64).map(|i| RingMember {
                id: id(seed.wrapping_add(i)), weight: 1, state: MemberState::Active,
            }).collect();
            let before = compute(&ms, 1, DEFAULT_VNODES, 2);
            let gone = victim.index(n);
            let mut shrunk = ms.clone();
            shrunk.remove(gone);
            let after = compute(&shrunk, 2, DEFAULT_VNODES, 2);
            let (b, a) = (owners(&before), owners(&after));
            for s in 0..SLOTS {
                if b[s] != a[s] {
                    prop_assert_eq!(b[s], Some(ms[gone].id.as_str()));
                }
            }
        }
    }
}
