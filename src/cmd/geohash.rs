//! Redis' geohash arithmetic, without I/O: the 52-bit interleaved geohash a
//! geo member keeps as its sorted-set score, its decoding back to a point,
//! the haversine distance, the standard 11-character geohash text, and the
//! nine neighbouring boxes (`geohashCalculateAreasByShapeWGS84`) that a
//! radius or box search scans. Every step keeps Redis' order of floating
//! point operations so scores, coordinates and distances match redis-server
//! bit for bit.

/// Longitude bounds of the indexable world.
pub const LONG_MIN: f64 = -180.0;
/// Longitude bounds of the indexable world.
pub const LONG_MAX: f64 = 180.0;
/// Latitude bounds of the indexable world (EPSG:900913: no poles).
pub const LAT_MIN: f64 = -85.05112878;
/// Latitude bounds of the indexable world (EPSG:900913: no poles).
pub const LAT_MAX: f64 = 85.05112878;
/// Bits per coordinate in a stored score (26 + 26 = 52 bits).
const STEP_MAX: u8 = 26;
/// Earth's quadratic mean radius for WGS-84, in meters (Redis' constant).
const EARTH_RADIUS_M: f64 = 6372797.560856;
/// Half the Mercator world width in meters, for estimating the box step.
const MERCATOR_MAX: f64 = 20037726.37;
/// Degrees to radians, as Redis' `D_R`.
const D_R: f64 = std::f64::consts::PI / 180.0;

fn deg_rad(ang: f64) -> f64 {
    ang * D_R
}

fn rad_deg(ang: f64) -> f64 {
    ang / D_R
}

/// A geohash prefix: `step` bits per coordinate, interleaved in `bits`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashBits {
    /// The interleaved bits (latitude on even positions).
    pub bits: u64,
    /// Bits per coordinate.
    pub step: u8,
}

/// A coordinate interval.
#[derive(Clone, Copy, Debug)]
struct Range {
    min: f64,
    max: f64,
}

/// The rectangle a geohash covers.
#[derive(Clone, Copy, Debug)]
struct Area {
    lon: Range,
    lat: Range,
}

const WGS84_LON: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
const WGS84_LAT: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// Spreads the low 32 bits of `x` on the even and of `y` on the odd bits.
fn interleave64(x: u32, y: u32) -> u64 {
    const B: [u64; 5] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
    ];
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let (mut x, mut y) = (u64::from(x), u64::from(y));
    for i in (0..5).rev() {
        x = (x | (x << S[i])) & B[i];
        y = (y | (y << S[i])) & B[i];
    }
    x | (y << 1)
}

/// Inverse of `interleave64`: even bits in the low, odd bits in the high half.
fn deinterleave64(interleaved: u64) -> u64 {
    const B: [u64; 6] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
        0x00000000FFFFFFFF,
    ];
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let mut x = interleaved;
    let mut y = interleaved >> 1;
    for i in 0..6 {
        x = (x | (x >> S[i])) & B[i];
        y = (y | (y >> S[i])) & B[i];
    }
    x | (y << 32)
}

/// `geohashEncode`: None outside the indexable world or the ranges.
fn encode(lon_r: Range, lat_r: Range, lon: f64, lat: f64, step: u8) -> Option<HashBits> {
    if step == 0 || step > 32 {
        return None;
    }
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_r.min || lat > lat_r.max || lon < lon_r.min || lon > lon_r.max {
        return None;
    }
    let mut lat_offset = (lat - lat_r.min) / (lat_r.max - lat_r.min);
    let mut lon_offset = (lon - lon_r.min) / (lon_r.max - lon_r.min);
    let scale = (1u64 << step) as f64;
    lat_offset *= scale;
    lon_offset *= scale;
    Some(HashBits {
        bits: interleave64(lat_offset as u32, lon_offset as u32),
        step,
    })
}

/// `geohashDecode`: the rectangle of a hash.
fn decode(lon_r: Range, lat_r: Range, hash: HashBits) -> Area {
    let sep = deinterleave64(hash.bits);
    let lat_scale = lat_r.max - lat_r.min;
    let lon_scale = lon_r.max - lon_r.min;
    let ilat = sep as u32;
    let ilon = (sep >> 32) as u32;
    let div = (1u64 << hash.step) as f64;
    Area {
        lat: Range {
            min: lat_r.min + (f64::from(ilat) / div) * lat_scale,
            max: lat_r.min + (f64::from(ilat.wrapping_add(1)) / div) * lat_scale,
        },
        lon: Range {
            min: lon_r.min + (f64::from(ilon) / div) * lon_scale,
            max: lon_r.min + (f64::from(ilon.wrapping_add(1)) / div) * lon_scale,
        },
    }
}

/// The 52-bit score of a full-precision hash, or of a coarser box's lower corner.
fn align52(hash: HashBits) -> u64 {
    hash.bits << (52 - u32::from(hash.step) * 2)
}

/// The sorted-set score of a point (`None` outside the indexable world).
pub fn score_of(lon: f64, lat: f64) -> Option<u64> {
    encode(WGS84_LON, WGS84_LAT, lon, lat, STEP_MAX).map(align52)
}

/// The point `(longitude, latitude)` a score stands for: the centre of its
/// box, clamped to the world (Redis' `decodeGeohash`).
pub fn point_of(score: f64) -> (f64, f64) {
    let hash = HashBits {
        bits: c_cast_u64(score),
        step: STEP_MAX,
    };
    let a = decode(WGS84_LON, WGS84_LAT, hash);
    let lon = ((a.lon.min + a.lon.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((a.lat.min + a.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// `(uint64_t)d` as redis-server compiled for x86-64 computes it, also for
/// scores no geohash has (ZADD can store any score in a geo set): values
/// below 2^63 go through a signed truncation (a negative score wraps), larger
/// ones are offset by 2^63, and out-of-range truncations give 2^63.
/// Elsewhere C's cast saturates, like Rust's `as`.
fn c_cast_u64(d: f64) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        const TWO63: f64 = 9_223_372_036_854_775_808.0;
        // cvttsd2si: the truncation when it fits in an i64, else i64::MIN.
        let truncate = |x: f64| {
            if (-TWO63..TWO63).contains(&x) {
                x as i64
            } else {
                i64::MIN
            }
        };
        if d < TWO63 {
            truncate(d) as u64
        } else {
            (truncate(d - TWO63) as u64) ^ (1 << 63)
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        d as u64
    }
}

/// The standard 11-character geohash of a score (GEOHASH), re-encoded on
/// the -90..90 latitude range as other geohash tools expect.
pub fn geohash_text(score: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = point_of(score);
    let lon_r = Range {
        min: -180.0,
        max: 180.0,
    };
    let lat_r = Range {
        min: -90.0,
        max: 90.0,
    };
    // A decoded point is always inside the world, so encoding succeeds;
    // Redis reads the zeroed hash if it did not.
    let bits = encode(lon_r, lat_r, lon, lat, STEP_MAX).map_or(0, |h| h.bits);
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().enumerate().take(10) {
        *c = ALPHABET[((bits >> (52 - (i + 1) * 5)) & 0x1f) as usize];
    }
    out
}

/// Great-circle distance in meters (haversine) between two points in degrees.
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lat1r = deg_rad(lat1);
    let lon1r = deg_rad(lon1);
    let lat2r = deg_rad(lat2);
    let lon2r = deg_rad(lon2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let v = ((lon2r - lon1r) / 2.0).sin();
    2.0 * EARTH_RADIUS_M * (u * u + lat1r.cos() * lat2r.cos() * v * v).sqrt().asin()
}

/// What a search covers.
#[derive(Clone, Copy, Debug)]
pub enum Extent {
    /// A circle of this radius (in the search unit).
    Radius(f64),
    /// An axis-aligned box of this width and height (in the search unit).
    Box {
        /// East-west size.
        width: f64,
        /// North-south size.
        height: f64,
    },
}

/// A search area: centre, extent and the unit's size in meters.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Centre longitude.
    pub lon: f64,
    /// Centre latitude.
    pub lat: f64,
    /// Meters per unit of the extent (1 for m, 1000 for km, ...).
    pub conversion: f64,
    /// Radius or box.
    pub extent: Extent,
}

impl Shape {
    /// `geohashBoundingBox`: `[min lon, min lat, max lon, max lat]`.
    fn bounding_box(&self) -> [f64; 4] {
        let (h, w) = match self.extent {
            Extent::Radius(r) => (r, r),
            Extent::Box { width, height } => (height / 2.0, width / 2.0),
        };
        let height = self.conversion * h;
        let width = self.conversion * w;
        let lat_delta = rad_deg(height / EARTH_RADIUS_M);
        let lon_delta_top = rad_deg(width / EARTH_RADIUS_M / deg_rad(self.lat + lat_delta).cos());
        let lon_delta_bottom =
            rad_deg(width / EARTH_RADIUS_M / deg_rad(self.lat - lat_delta).cos());
        let lon_delta = if self.lat < 0.0 {
            lon_delta_bottom
        } else {
            lon_delta_top
        };
        [
            self.lon - lon_delta,
            self.lat - lat_delta,
            self.lon + lon_delta,
            self.lat + lat_delta,
        ]
    }

    /// The distance in meters from the centre to the point when the point
    /// is inside the shape (`geoAppendIfWithinShape`).
    pub fn contains(&self, lon: f64, lat: f64) -> Option<f64> {
        match self.extent {
            Extent::Radius(r) => {
                let d = distance(self.lon, self.lat, lon, lat);
                (d <= r * self.conversion).then_some(d)
            }
            Extent::Box { width, height } => {
                let (w, h) = (width * self.conversion, height * self.conversion);
                let lon_distance = distance(lon, lat, self.lon, lat);
                let lat_distance = distance(lon, lat, lon, self.lat);
                if lon_distance > w / 2.0 || lat_distance > h / 2.0 {
                    return None;
                }
                Some(distance(self.lon, self.lat, lon, lat))
            }
        }
    }

    /// The score intervals `[min, max)` to scan, in Redis' order (centre,
    /// N, S, E, W, NE, NW, SE, SW), skipping useless boxes and a box equal
    /// to the previous one scanned (`membersOfAllNeighbors`).
    pub fn score_ranges(&self) -> Vec<(f64, f64)> {
        let boxes = self.boxes();
        let mut out = Vec::with_capacity(9);
        let mut last_processed = 0usize;
        for (i, b) in boxes.iter().enumerate() {
            let Some(h) = b else { continue };
            if last_processed != 0 && boxes[last_processed] == Some(*h) {
                continue;
            }
            let min = align52(*h);
            let max = align52(HashBits {
                bits: h.bits + 1,
                step: h.step,
            });
            out.push((min as f64, max as f64));
            last_processed = i;
        }
        out
    }

    /// `geohashCalculateAreasByShapeWGS84`: the centre box and its eight
    /// neighbours (None: not needed).
    fn boxes(&self) -> [Option<HashBits>; 9] {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounding_box();
        let radius_m = match self.extent {
            Extent::Radius(r) => r,
            Extent::Box { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        } * self.conversion;
        let mut steps = estimate_steps(radius_m, self.lat);
        let centre = |steps| {
            let h = encode(WGS84_LON, WGS84_LAT, self.lon, self.lat, steps).unwrap_or(HashBits {
                bits: 0,
                step: steps,
            });
            (h, neighbours(h), decode(WGS84_LON, WGS84_LAT, h))
        };
        let (mut hash, mut n, mut area) = centre(steps);
        let area_of = |h| decode(WGS84_LON, WGS84_LAT, h);
        let decrease = area_of(n[N]).lat.max < max_lat
            || area_of(n[S]).lat.min > min_lat
            || area_of(n[E]).lon.max < max_lon
            || area_of(n[W]).lon.min > min_lon;
        if steps > 1 && decrease {
            steps -= 1;
            (hash, n, area) = centre(steps);
        }
        let mut keep = [true; 8];
        if steps >= 2 {
            let mut drop = |dirs: [usize; 3]| dirs.iter().for_each(|&d| keep[d] = false);
            if area.lat.min < min_lat {
                drop([S, SW, SE]);
            }
            if area.lat.max > max_lat {
                drop([N, NE, NW]);
            }
            if area.lon.min < min_lon {
                drop([W, SW, NW]);
            }
            if area.lon.max > max_lon {
                drop([E, SE, NE]);
            }
        }
        let mut out = [Some(hash); 9];
        for d in 0..8 {
            out[d + 1] = keep[d].then_some(n[d]);
        }
        out
    }
}

/// Neighbour indexes, in Redis' scanning order after the centre.
const N: usize = 0;
const S: usize = 1;
const E: usize = 2;
const W: usize = 3;
const NE: usize = 4;
const NW: usize = 5;
const SE: usize = 6;
const SW: usize = 7;

/// `geohashEstimateStepsByRadius`: the coarsest step whose boxes still
/// cover the radius, fewer bits near the poles.
fn estimate_steps(range_m: f64, lat: f64) -> u8 {
    if range_m == 0.0 {
        return 26;
    }
    let mut range = range_m;
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// Moves a hash one box along longitude (odd bits) by `d` (+1 east, -1 west).
fn move_x(h: HashBits, d: i8) -> HashBits {
    let shift = 64 - u32::from(h.step) * 2;
    let mut x = h.bits & 0xaaaaaaaaaaaaaaaa;
    let y = h.bits & 0x5555555555555555;
    let zz = 0x5555555555555555u64 >> shift;
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaaaaaaaaaaaaaau64 >> shift;
    HashBits {
        bits: x | y,
        step: h.step,
    }
}

/// Moves a hash one box along latitude (even bits) by `d` (+1 north, -1 south).
fn move_y(h: HashBits, d: i8) -> HashBits {
    let shift = 64 - u32::from(h.step) * 2;
    let x = h.bits & 0xaaaaaaaaaaaaaaaa;
    let mut y = h.bits & 0x5555555555555555;
    let zz = 0xaaaaaaaaaaaaaaaau64 >> shift;
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555555555555555u64 >> shift;
    HashBits {
        bits: x | y,
        step: h.step,
    }
}

/// The eight neighbours, indexed by `N`, `S`, `E`, ... .
fn neighbours(h: HashBits) -> [HashBits; 8] {
    let mv = |dx: i8, dy: i8| {
        let mut m = h;
        if dx != 0 {
            m = move_x(m, dx);
        }
        if dy != 0 {
            m = move_y(m, dy);
        }
        m
    };
    [
        mv(0, 1),
        mv(0, -1),
        mv(1, 0),
        mv(-1, 0),
        mv(1, 1),
        mv(-1, 1),
        mv(1, -1),
        mv(-1, -1),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_scores_and_hashes() {
        // Values read from redis-server 7.0: GEOADD then ZSCORE / GEOHASH / GEOPOS.
        assert_eq!(score_of(13.361389, 38.115556), Some(3479099956230698));
        assert_eq!(score_of(15.087269, 37.502669), Some(3479447370796909));
        assert_eq!(&geohash_text(3479099956230698.0), b"sqc8b49rny0");
        assert_eq!(&geohash_text(3479447370796909.0), b"sqdtr74hyu0");
        let (lon, lat) = point_of(3479099956230698.0);
        assert_eq!(format!("{lon:.17}"), "13.36138933897018433");
        assert_eq!(format!("{lat:.17}"), "38.11555639549629859");
        let (lon2, lat2) = point_of(3479447370796909.0);
        assert_eq!(format!("{lon2:.17}"), "15.08726745843887329");
        assert_eq!(format!("{lat2:.17}"), "37.50266842333162032");
        let d = distance(lon, lat, lon2, lat2);
        assert_eq!(format!("{d:.4}"), "166274.1516");
        assert_eq!(score_of(200.0, 10.0), None);
        assert_eq!(score_of(10.0, 85.06), None);
        // The corner of the world spills past 52 bits, as in Redis.
        assert_eq!(score_of(180.0, LAT_MAX), Some(13510798882111488));
        assert_eq!(&geohash_text(13510798882111488.0), b"bp05b5048p0");
        assert_eq!(point_of(13510798882111488.0), (180.0, LAT_MAX));
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn out_of_range_scores_convert_like_c_on_x86_64() {
        assert_eq!(c_cast_u64(-5.0), u64::MAX - 4);
        assert_eq!(c_cast_u64(1e20), 0);
        assert_eq!(c_cast_u64(1e19), 10_000_000_000_000_000_000);
        assert_eq!(c_cast_u64(0.5), 0);
    }

    #[test]
    fn interleave_roundtrips() {
        for (x, y) in [(0u32, 0u32), (1, 0), (0, 1), (u32::MAX, 0), (12345, 67890)] {
            let sep = deinterleave64(interleave64(x, y));
            assert_eq!((sep as u32, (sep >> 32) as u32), (x, y));
        }
    }

    #[test]
    fn neighbours_are_adjacent() {
        let h = encode(WGS84_LON, WGS84_LAT, 10.0, 20.0, 10).expect("inside");
        let n = neighbours(h);
        let c = decode(WGS84_LON, WGS84_LAT, h);
        let north = decode(WGS84_LON, WGS84_LAT, n[N]);
        let east = decode(WGS84_LON, WGS84_LAT, n[E]);
        assert_eq!(north.lat.min, c.lat.max);
        assert_eq!(east.lon.min, c.lon.max);
        assert_eq!(move_x(move_x(h, 1), -1), h);
        assert_eq!(move_y(move_y(h, -1), 1), h);
    }

    proptest! {
        #[test]
        fn decoded_point_is_within_a_box_of_the_input(
            lon in -180.0f64..180.0,
            lat in LAT_MIN..LAT_MAX,
        ) {
            let score = score_of(lon, lat).expect("inside the world");
            prop_assert!(score < (1u64 << 52));
            let (dlon, dlat) = point_of(score as f64);
            // A 26-bit box is 360/2^26 degrees wide and 170/2^26 high.
            prop_assert!((dlon - lon).abs() <= 360.0 / (1u64 << 26) as f64);
            prop_assert!((dlat - lat).abs() <= 171.0 / (1u64 << 26) as f64);
            // Decoding and re-encoding is a fixed point.
            prop_assert_eq!(score_of(dlon, dlat), Some(score));
        }

        #[test]
        fn centre_box_holds_the_centre(
            lon in -179.0f64..179.0,
            lat in -80.0f64..80.0,
            radius in 1.0f64..500_000.0,
        ) {
            let shape = Shape { lon, lat, conversion: 1.0, extent: Extent::Radius(radius) };
            let score = score_of(lon, lat).expect("inside") as f64;
            let ranges = shape.score_ranges();
            prop_assert!(ranges.iter().any(|&(min, max)| min <= score && score < max));
        }
    }
}
