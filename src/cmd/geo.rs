//! Geo commands (Redis 7.0): GEOADD, GEOPOS, GEODIST, GEOHASH, GEOSEARCH,
//! GEOSEARCHSTORE and the GEORADIUS family. A geo index is a plain sorted
//! set whose scores are 52-bit geohashes (`cmd/geohash.rs`); GEOADD is ZADD
//! with computed scores, and a search scans the score ranges of the nine
//! boxes around the centre, as redis-server does, so results, their order
//! and their formatting match it byte for byte.

use std::cmp::Ordering;
use std::collections::HashSet;

use bytes::Bytes;

use super::ctx::{arg_i64, is, Ctx};
use super::geohash::{self, Extent, Shape};
use super::partial_sort::pqsort;
use super::zset::{as_zset, parse_score, store_result};
use crate::error::{CmdError, CmdResult};
use crate::resp::reply::format_c;
use crate::store::zset::{cmp_elem, ZSet};

/// Parses `lon lat` (`extractLongLatOrReply`).
fn parse_lon_lat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), CmdError> {
    let (lon, lat) = (parse_score(lon)?, parse_score(lat)?);
    if !(geohash::LONG_MIN..=geohash::LONG_MAX).contains(&lon)
        || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&lat)
    {
        return Err(CmdError::Other(format!(
            "ERR invalid longitude,latitude pair {},{}",
            format_c(c"%f", lon),
            format_c(c"%f", lat)
        )));
    }
    Ok((lon, lat))
}

/// Meters per unit (`extractUnitOrReply`).
fn parse_unit(u: &[u8]) -> Result<f64, CmdError> {
    match u.to_ascii_lowercase().as_slice() {
        b"m" => Ok(1.0),
        b"km" => Ok(1000.0),
        b"ft" => Ok(0.3048),
        b"mi" => Ok(1609.34),
        _ => Err(CmdError::err(
            "unsupported unit provided. please use M, KM, FT, MI",
        )),
    }
}

/// A non-negative number, or Redis' `need numeric <what>` error.
fn parse_length(b: &[u8], what: &str) -> Result<f64, CmdError> {
    parse_score(b).map_err(|_| CmdError::err(format!("need numeric {what}")))
}

/// `radius unit` (`extractDistanceOrReply`): (radius, meters per unit).
fn parse_radius(radius: &[u8], unit: &[u8]) -> Result<(f64, f64), CmdError> {
    let r = parse_length(radius, "radius")?;
    if r < 0.0 {
        return Err(CmdError::err("radius cannot be negative"));
    }
    Ok((r, parse_unit(unit)?))
}

/// A distance as Redis prints it (`%.4f` bulk string).
fn emit_distance(ctx: &mut Ctx<'_>, d: f64) {
    ctx.out.bulk(format_c(c"%.4f", d).as_bytes());
}

// ---------------------------------------------------------------- GEOADD

/// GEOADD key [NX|XX] [CH] longitude latitude member [...]: ZADD with the
/// members' geohashes as scores.
pub fn geoadd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut first = 2;
    let (mut nx, mut xx) = (false, false);
    while first < args.len() {
        let a = &args[first];
        if is(a, "nx") {
            nx = true;
        } else if is(a, "xx") {
            xx = true;
        } else if !is(a, "ch") {
            break;
        }
        first += 1;
    }
    if !(args.len() - first).is_multiple_of(3) || (nx && xx) {
        return Err(CmdError::Syntax);
    }
    let mut zadd_args: Vec<Bytes> = Vec::with_capacity(first + (args.len() - first) / 3 * 2);
    zadd_args.push(Bytes::from_static(b"zadd"));
    zadd_args.extend_from_slice(&args[1..first]);
    for triple in args[first..].chunks(3) {
        let (lon, lat) = parse_lon_lat(&triple[0], &triple[1])?;
        // Inside the world (checked above), encoding cannot fail.
        let score = geohash::score_of(lon, lat).unwrap_or(0);
        zadd_args.push(Bytes::from(score.to_string()));
        zadd_args.push(triple[2].clone());
    }
    super::zset::zadd(ctx, &zadd_args)
}

// ---------------------------------------------------------------- point reads

/// Runs `f` with the scores of `members` at `key` (None: missing key or member).
fn with_scores(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    members: &[Bytes],
    f: impl FnOnce(&mut Ctx<'_>, Option<Vec<Option<f64>>>),
) -> CmdResult {
    let k = ctx.key(key);
    let mut slot = ctx.lock(&k);
    let entry = slot.get(&k);
    ctx.hit(entry.is_some(), k.bytes);
    let scores = match entry {
        None => None,
        Some(e) => {
            let z = as_zset(e)?;
            Some(members.iter().map(|m| z.score(m)).collect())
        }
    };
    drop(slot);
    f(ctx, scores);
    Ok(())
}

/// GEOPOS key [member ...]
pub fn geopos(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    with_scores(ctx, &args[1], &args[2..], |ctx, scores| {
        ctx.out.array_len(args.len() - 2);
        for i in 0..args.len() - 2 {
            match scores.as_ref().and_then(|s| s[i]) {
                None => ctx.out.null_array(),
                Some(score) => {
                    let (lon, lat) = geohash::point_of(score);
                    ctx.out.array_len(2);
                    ctx.out.human_double(lon);
                    ctx.out.human_double(lat);
                }
            }
        }
    })
}

/// GEOHASH key [member ...]
pub fn geohash_cmd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    with_scores(ctx, &args[1], &args[2..], |ctx, scores| {
        ctx.out.array_len(args.len() - 2);
        for i in 0..args.len() - 2 {
            match scores.as_ref().and_then(|s| s[i]) {
                None => ctx.out.null(),
                Some(score) => ctx.out.bulk(&geohash::geohash_text(score)),
            }
        }
    })
}

/// GEODIST key member1 member2 [M|KM|FT|MI]
pub fn geodist(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let to_meters = match args.len() {
        5 => parse_unit(&args[4])?,
        n if n > 5 => return Err(CmdError::Syntax),
        _ => 1.0,
    };
    with_scores(ctx, &args[1], &args[2..4], |ctx, scores| {
        match scores.as_deref() {
            Some(&[Some(a), Some(b)]) => {
                let (lon1, lat1) = geohash::point_of(a);
                let (lon2, lat2) = geohash::point_of(b);
                emit_distance(ctx, geohash::distance(lon1, lat1, lon2, lat2) / to_meters);
            }
            _ => ctx.out.null(),
        }
    })
}

// ---------------------------------------------------------------- searches

/// Which search command runs (`georadiusGeneric`'s flags).
#[derive(Clone, Copy, PartialEq, Eq)]
enum SearchCmd {
    /// GEORADIUS[_RO]: centre and radius as arguments.
    RadiusAtCoords { store_allowed: bool },
    /// GEORADIUSBYMEMBER[_RO]: centre at a member.
    RadiusAtMember { store_allowed: bool },
    /// GEOSEARCH.
    GeoSearch,
    /// GEOSEARCHSTORE.
    GeoSearchStore,
}

impl SearchCmd {
    fn is_geosearch(self) -> bool {
        matches!(self, SearchCmd::GeoSearch | SearchCmd::GeoSearchStore)
    }

    fn store_allowed(self) -> bool {
        matches!(
            self,
            SearchCmd::RadiusAtCoords {
                store_allowed: true
            } | SearchCmd::RadiusAtMember {
                store_allowed: true
            }
        )
    }
}

/// Result order.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    Unsorted,
    Asc,
    Desc,
}

/// A parsed search request.
struct Request {
    /// The search area (None until FROM/BY resolve it, or when the source key is missing).
    center: Option<(f64, f64)>,
    extent: Option<(Extent, f64)>,
    withdist: bool,
    withhash: bool,
    withcoord: bool,
    order: Order,
    count: u64,
    any: bool,
    /// Set when the result is stored (the target comes from `store_target`):
    /// whether the scores stored are distances.
    store: Option<bool>,
}

/// A point found by a search.
struct Found {
    member: Box<[u8]>,
    score: f64,
    lon: f64,
    lat: f64,
    dist: f64,
}

/// The score of `member` in `z` as a centre, or Redis' decode error.
fn member_center(z: &ZSet, member: &[u8]) -> Result<(f64, f64), CmdError> {
    z.score(member)
        .map(geohash::point_of)
        .ok_or_else(|| CmdError::err("could not decode requested zset member"))
}

/// Parses the arguments of a search against the source set `z` (None when
/// missing), in Redis' order so the same error wins.
fn parse_request(args: &[Bytes], kind: SearchCmd, z: Option<&ZSet>) -> Result<Request, CmdError> {
    let mut req = Request {
        center: None,
        extent: None,
        withdist: false,
        withhash: false,
        withcoord: false,
        order: Order::Unsorted,
        count: 0,
        any: false,
        store: None,
    };
    let base = match kind {
        SearchCmd::RadiusAtCoords { .. } => {
            req.center = Some(parse_lon_lat(&args[2], &args[3])?);
            let (r, conv) = parse_radius(&args[4], &args[5])?;
            req.extent = Some((Extent::Radius(r), conv));
            6
        }
        SearchCmd::RadiusAtMember { .. } => {
            if let Some(z) = z {
                req.center = Some(member_center(z, &args[2])?);
                let (r, conv) = parse_radius(&args[3], &args[4])?;
                req.extent = Some((Extent::Radius(r), conv));
            }
            5
        }
        SearchCmd::GeoSearch => 2,
        SearchCmd::GeoSearchStore => {
            req.store = Some(false);
            3
        }
    };
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let geosearch = kind.is_geosearch();
    let mut i = base;
    while i < args.len() {
        let a = &args[i];
        let left = args.len() - i - 1;
        if is(a, "withdist") {
            req.withdist = true;
        } else if is(a, "withhash") {
            req.withhash = true;
        } else if is(a, "withcoord") {
            req.withcoord = true;
        } else if is(a, "any") {
            req.any = true;
        } else if is(a, "asc") {
            req.order = Order::Asc;
        } else if is(a, "desc") {
            req.order = Order::Desc;
        } else if is(a, "count") && left >= 1 {
            let n = arg_i64(&args[i + 1])?;
            if n <= 0 {
                return Err(CmdError::err("COUNT must be > 0"));
            }
            req.count = n as u64;
            i += 1;
        } else if (is(a, "store") || is(a, "storedist")) && left >= 1 && kind.store_allowed() {
            req.store = Some(is(a, "storedist"));
            i += 1;
        } else if is(a, "storedist") && kind == SearchCmd::GeoSearchStore {
            req.store = Some(true);
        } else if is(a, "frommember") && left >= 1 && geosearch && !fromloc {
            if let Some(z) = z {
                req.center = Some(member_center(z, &args[i + 1])?);
            }
            frommember = true;
            i += 1;
        } else if is(a, "fromlonlat") && left >= 2 && geosearch && !frommember {
            req.center = Some(parse_lon_lat(&args[i + 1], &args[i + 2])?);
            fromloc = true;
            i += 2;
        } else if is(a, "byradius") && left >= 2 && geosearch && !bybox {
            let (r, conv) = parse_radius(&args[i + 1], &args[i + 2])?;
            req.extent = Some((Extent::Radius(r), conv));
            byradius = true;
            i += 2;
        } else if is(a, "bybox") && left >= 3 && geosearch && !byradius {
            let width = parse_length(&args[i + 1], "width")?;
            let height = parse_length(&args[i + 2], "height")?;
            if width < 0.0 || height < 0.0 {
                return Err(CmdError::err("height or width cannot be negative"));
            }
            let conv = parse_unit(&args[i + 3])?;
            req.extent = Some((Extent::Box { width, height }, conv));
            bybox = true;
            i += 3;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if req.store.is_some() && (req.withdist || req.withhash || req.withcoord) {
        return Err(CmdError::err(format!(
            "{} is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            if kind == SearchCmd::GeoSearchStore {
                "GEOSEARCHSTORE"
            } else {
                "STORE option in GEORADIUS"
            }
        )));
    }
    let name = String::from_utf8_lossy(&args[0]);
    if geosearch && !(frommember || fromloc) {
        return Err(CmdError::err(format!(
            "exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if geosearch && !(byradius || bybox) {
        return Err(CmdError::err(format!(
            "exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if req.any && req.count == 0 {
        return Err(CmdError::err("the ANY argument requires COUNT argument"));
    }
    // COUNT without ANY returns the closest: it sorts.
    if req.count != 0 && req.order == Order::Unsorted && !req.any {
        req.order = Order::Asc;
    }
    Ok(req)
}

/// The members of `z` inside `shape`, in Redis' scanning order, stopping at
/// `limit` (0: no limit) like `membersOfAllNeighbors`.
fn scan(z: &ZSet, shape: &Shape, limit: usize) -> Vec<Found> {
    let mut found = Vec::new();
    let full = |found: &Vec<Found>| limit != 0 && found.len() >= limit;
    for (min, max) in shape.score_ranges() {
        if full(&found) {
            break;
        }
        let start = z.prefix_len(|s, _| s < min);
        for (member, score) in z.range(start, z.len(), false) {
            if score >= max {
                break;
            }
            let (lon, lat) = geohash::point_of(score);
            if let Some(dist) = shape.contains(lon, lat) {
                found.push(Found {
                    member: member.into(),
                    score,
                    lon,
                    lat,
                    dist,
                });
            }
            if full(&found) {
                break;
            }
        }
    }
    found
}

/// The key a search stores into, found before parsing so both keys are
/// locked together (the source is read and the target written atomically):
/// the last STORE/STOREDIST target, as the parser keeps it.
fn store_target(args: &[Bytes], kind: SearchCmd) -> Option<&Bytes> {
    match kind {
        SearchCmd::GeoSearchStore => Some(&args[1]),
        _ if kind.store_allowed() => {
            let mut target = None;
            let mut i = 5;
            while i < args.len() {
                if (is(&args[i], "store") || is(&args[i], "storedist")) && i + 1 < args.len() {
                    target = Some(&args[i + 1]);
                    i += 1;
                }
                i += 1;
            }
            target
        }
        _ => None,
    }
}

/// Shared body of the search commands; `src` is the source key's index.
fn search(ctx: &mut Ctx<'_>, args: &[Bytes], src: usize, kind: SearchCmd) -> CmdResult {
    let src_key = ctx.key(&args[src]);
    let dst_key = store_target(args, kind).map(|d| ctx.key(d));
    let keys: Vec<_> = std::iter::once(src_key).chain(dst_key).collect();
    let mut locks = ctx.store().lock_many(ctx.client.db, &keys, ctx.now_ms);
    let entry = locks.of(&src_key).get(&src_key);
    ctx.hit(entry.is_some(), src_key.bytes);
    let z = entry.map(as_zset).transpose()?;
    let req = parse_request(args, kind, z)?;
    let mut found = match (z, req.center, req.extent) {
        (Some(z), Some((lon, lat)), Some((extent, conversion))) => {
            let shape = Shape {
                lon,
                lat,
                conversion,
                extent,
            };
            let limit = if req.any { req.count as usize } else { 0 };
            let mut found = scan(z, &shape, limit);
            let returned = match req.count {
                0 => found.len(),
                n => found.len().min(n as usize),
            };
            let order: fn(&Found, &Found) -> Ordering = match req.order {
                Order::Asc => |a, b| a.dist.total_cmp(&b.dist),
                _ => |a, b| b.dist.total_cmp(&a.dist),
            };
            // As Redis: glibc's (stable) qsort for a full sort, pqsort to
            // sort only the COUNT closest or farthest.
            if req.order != Order::Unsorted {
                if returned == found.len() {
                    found.sort_by(order);
                } else {
                    pqsort(&mut found, 0, returned as i64 - 1, &order);
                }
            }
            found.truncate(returned);
            for f in &mut found {
                f.dist /= conversion;
            }
            found
        }
        _ => Vec::new(),
    };
    match (req.store, dst_key) {
        (Some(storedist), Some(dst)) => {
            let mut seen = HashSet::with_capacity(found.len());
            found.retain(|f| seen.insert(f.member.clone()));
            let mut elems: Vec<(Box<[u8]>, f64)> = found
                .into_iter()
                .map(|f| (f.member, if storedist { f.dist } else { f.score }))
                .collect();
            elems.sort_by(|a, b| cmp_elem(a.1, &a.0, b.1, &b.0));
            let event = if kind == SearchCmd::GeoSearchStore {
                "geosearchstore"
            } else {
                "georadiusstore"
            };
            let n = store_result(ctx, locks.of(&dst), &dst, elems, event);
            ctx.out.int(n as i64);
        }
        _ => {
            drop(locks);
            emit_found(ctx, &req, &found);
        }
    }
    Ok(())
}

/// Replies with the found points and the fields asked for.
fn emit_found(ctx: &mut Ctx<'_>, req: &Request, found: &[Found]) {
    let options =
        usize::from(req.withdist) + usize::from(req.withhash) + usize::from(req.withcoord);
    ctx.out.array_len(found.len());
    for f in found {
        if options > 0 {
            ctx.out.array_len(options + 1);
        }
        ctx.out.bulk(&f.member);
        if req.withdist {
            emit_distance(ctx, f.dist);
        }
        if req.withhash {
            ctx.out.int(f.score as i64);
        }
        if req.withcoord {
            ctx.out.array_len(2);
            ctx.out.human_double(f.lon);
            ctx.out.human_double(f.lat);
        }
    }
}

/// GEORADIUS key longitude latitude radius M|KM|FT|MI [options] [STORE key] [STOREDIST key]
pub fn georadius(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    search(
        ctx,
        args,
        1,
        SearchCmd::RadiusAtCoords {
            store_allowed: true,
        },
    )
}

/// GEORADIUS_RO key longitude latitude radius M|KM|FT|MI [options]
pub fn georadius_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    search(
        ctx,
        args,
        1,
        SearchCmd::RadiusAtCoords {
            store_allowed: false,
        },
    )
}

/// GEORADIUSBYMEMBER key member radius M|KM|FT|MI [options] [STORE key] [STOREDIST key]
pub fn georadiusbymember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    search(
        ctx,
        args,
        1,
        SearchCmd::RadiusAtMember {
            store_allowed: true,
        },
    )
}

/// GEORADIUSBYMEMBER_RO key member radius M|KM|FT|MI [options]
pub fn georadiusbymember_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    search(
        ctx,
        args,
        1,
        SearchCmd::RadiusAtMember {
            store_allowed: false,
        },
    )
}

/// GEOSEARCH key FROMMEMBER m|FROMLONLAT lon lat BYRADIUS r unit|BYBOX w h unit [options]
pub fn geosearch(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    search(ctx, args, 1, SearchCmd::GeoSearch)
}

/// GEOSEARCHSTORE dst src FROMMEMBER m|FROMLONLAT lon lat BYRADIUS r unit|BYBOX w h unit [options] [STOREDIST]
pub fn geosearchstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    search(ctx, args, 2, SearchCmd::GeoSearchStore)
}

/// The index of the argument after the first `keyword` at or past `from`
/// (Redis' keyword key spec, which never takes the last argument).
fn keyword_key(args: &[Bytes], keyword: &str, from: usize) -> Option<usize> {
    (from..args.len().saturating_sub(1))
        .find(|&i| is(&args[i], keyword))
        .map(|i| i + 1)
}

/// Keys of GEORADIUS from its key specs: the source, then the first STORE
/// and the first STOREDIST target.
pub fn georadius_keys(args: &[Bytes]) -> Vec<usize> {
    radius_keys(args, 6)
}

/// Keys of GEORADIUSBYMEMBER, like [`georadius_keys`] one argument earlier.
pub fn georadiusbymember_keys(args: &[Bytes]) -> Vec<usize> {
    radius_keys(args, 5)
}

fn radius_keys(args: &[Bytes], options_from: usize) -> Vec<usize> {
    std::iter::once(1)
        .chain(keyword_key(args, "store", options_from))
        .chain(keyword_key(args, "storedist", options_from))
        .collect()
}
