//! LOLWUT [VERSION v] [args...]: Redis 7.0's computer art. Version 5 draws
//! Georg Nees' "Schotter" in Braille characters, version 6 a city skyline
//! in terminal colors; any other version (7.0's default) answers with the
//! version line only, as Redis 7.0 does. The art is random, like Redis'
//! (drawn from this process' generator, so not Redis' exact pixels); its
//! size rules, canvas, rendering and captions are Redis'.

use bytes::Bytes;
use rand::Rng;

use super::connection::REDIS_VERSION;
use super::ctx::{arg_i64, is, Ctx};
use crate::error::CmdResult;

/// A canvas of pixels (colors 0..=3).
struct Canvas {
    width: i64,
    height: i64,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: i64, height: i64, color: u8) -> Canvas {
        let (width, height) = (width.max(0), height.max(0));
        Canvas {
            width,
            height,
            pixels: vec![color; (width * height) as usize],
        }
    }

    /// Sets a pixel; drawing outside the canvas does nothing.
    fn set(&mut self, x: i64, y: i64, color: u8) {
        if (0..self.width).contains(&x) && (0..self.height).contains(&y) {
            self.pixels[(x + y * self.width) as usize] = color;
        }
    }

    /// A pixel's color (0 outside the canvas).
    fn get(&self, x: i64, y: i64) -> u8 {
        if (0..self.width).contains(&x) && (0..self.height).contains(&y) {
            self.pixels[(x + y * self.width) as usize]
        } else {
            0
        }
    }

    /// Bresenham line.
    fn line(&mut self, (mut x1, mut y1): (i64, i64), (x2, y2): (i64, i64)) {
        let (dx, dy) = ((x2 - x1).abs(), (y2 - y1).abs());
        let (sx, sy) = (if x1 < x2 { 1 } else { -1 }, if y1 < y2 { 1 } else { -1 });
        let mut err = dx - dy;
        loop {
            self.set(x1, y1, 1);
            if x1 == x2 && y1 == y2 {
                break;
            }
            let e2 = err * 2;
            if e2 > -dy {
                err -= dy;
                x1 += sx;
            }
            if e2 < dx {
                err += dx;
                y1 += sy;
            }
        }
    }

    /// A square of side `size` centred on (x, y), rotated by `angle`.
    fn square(&mut self, x: i64, y: i64, size: f32, angle: f32) {
        let size = (size / std::f32::consts::SQRT_2).round();
        let mut k = std::f32::consts::FRAC_PI_4 + angle;
        let mut points = [(0i64, 0i64); 4];
        for p in &mut points {
            *p = (
                (k.sin() * size + x as f32).round() as i64,
                (k.cos() * size + y as f32).round() as i64,
            );
            k += std::f32::consts::FRAC_PI_2;
        }
        for j in 0..4 {
            self.line(points[j], points[(j + 1) % 4]);
        }
    }
}

/// Version 5's Schotter: `cols` terminal columns, squares per row and column.
fn schotter(cols: i64, per_row: i64, per_col: i64) -> Canvas {
    let width = cols * 2;
    let padding = if width > 4 { 2 } else { 0 };
    let side = (width - padding * 2) as f32 / per_row as f32;
    let height = (side * per_col as f32) as i64 + padding * 2;
    let mut canvas = Canvas::new(width, height, 0);
    let mut rng = rand::rng();
    for y in 0..per_col {
        for x in 0..per_row {
            let mut sx = (x as f32 * side + side / 2.0 + padding as f32) as i64;
            let mut sy = (y as f32 * side + side / 2.0 + padding as f32) as i64;
            let mut angle = 0.0;
            if y > 1 {
                let mut r = || {
                    let v = rng.random::<f32>() / per_col as f32 * y as f32;
                    if rng.random::<bool>() {
                        -v
                    } else {
                        v
                    }
                };
                let (r1, r2, r3) = (r(), r(), r());
                angle = r1;
                sx += (r2 * side / 3.0) as i64;
                sy += (r3 * side / 3.0) as i64;
            }
            canvas.square(sx, sy, side, angle);
        }
    }
    canvas
}

/// Renders a two-color canvas as Braille characters (2x4 pixels each).
fn render_braille(c: &Canvas) -> String {
    let mut out = String::new();
    let mut y = 0;
    while y < c.height {
        let mut x = 0;
        while x < c.width {
            let bits = [
                (0, 0),
                (0, 1),
                (0, 2),
                (1, 0),
                (1, 1),
                (1, 2),
                (0, 3),
                (1, 3),
            ];
            let byte = bits
                .iter()
                .enumerate()
                .filter(|(_, (dx, dy))| c.get(x + dx, y + dy) != 0)
                .fold(0u32, |b, (i, _)| b | 1 << i);
            out.push(char::from_u32(0x2800 + byte).unwrap_or(' '));
            x += 2;
        }
        if y != c.height - 1 {
            out.push('\n');
        }
        y += 4;
    }
    out
}

/// One skyscraper of version 6's skyline.
struct Skyscraper {
    xoff: i64,
    width: i64,
    height: i64,
    windows: bool,
    color: u8,
}

fn draw_skyscraper(c: &mut Canvas, s: &Skyscraper, rng: &mut impl Rng) {
    let start_y = c.height - 1;
    let end_y = start_y - s.height + 1;
    let mut y = start_y;
    while y >= end_y {
        for x in s.xoff..s.xoff + s.width {
            // The roof is four pixels narrower.
            if y == end_y && (x <= s.xoff + 1 || x >= s.xoff + s.width - 2) {
                continue;
            }
            let mut color = s.color;
            if s.windows
                && x > s.xoff + 1
                && x < s.xoff + s.width - 2
                && y > end_y + 1
                && y < start_y - 1
            {
                let (relx, rely) = (x - (s.xoff + 1), y - (end_y + 1));
                if (relx / 2) % 2 != 0 && rely % 2 != 0 {
                    // One of the two grays (windowed buildings are black).
                    color = rng.random_range(1..=2);
                    // Both pixels of a window share its color.
                    if relx % 2 != 0 {
                        color = c.get(x - 1, y);
                    }
                }
            }
            c.set(x, y, color);
        }
        y -= 1;
    }
}

/// Version 6's skyline: background buildings in two grays, then the
/// foreground ones with windows.
fn skyline(cols: i64, rows: i64) -> Canvas {
    let mut c = Canvas::new(cols, rows, 3);
    let mut rng = rand::rng();
    let h = c.height;
    for color in [2u8, 1] {
        let mut offset = -10;
        while offset < c.width {
            offset += rng.random_range(0..8);
            let width = 10 + rng.random_range(0..9);
            let height = if color == 2 {
                h / 2 + rng.random_range(0..h.max(1)) / 2
            } else {
                h / 2 + rng.random_range(0..h.max(1)) / 3
            };
            let s = Skyscraper {
                xoff: offset,
                width,
                height,
                windows: false,
                color,
            };
            draw_skyscraper(&mut c, &s, &mut rng);
            offset += if color == 2 { width / 2 } else { width + 1 };
        }
    }
    let mut offset = -10;
    while offset < c.width {
        offset += rng.random_range(0..8);
        let mut width = 5 + rng.random_range(0..14);
        if width % 4 != 0 {
            width += width % 3;
        }
        let height = h / 3 + rng.random_range(0..h.max(1)) / 2;
        let s = Skyscraper {
            xoff: offset,
            width,
            height,
            windows: true,
            color: 0,
        };
        draw_skyscraper(&mut c, &s, &mut rng);
        offset += width + 5;
    }
    c
}

/// Renders a four-gray canvas with terminal color escapes.
fn render_colors(c: &Canvas) -> String {
    let mut out = String::new();
    for y in 0..c.height {
        for x in 0..c.width {
            let escape = match c.get(x, y) {
                1 => "0;90;100m",
                2 => "0;37;47m",
                3 => "0;97;107m",
                _ => "0;30;40m",
            };
            out.push_str("\x1b[");
            out.push_str(escape);
            out.push_str(" \x1b[0m");
        }
        if y != c.height - 1 {
            out.push('\n');
        }
    }
    out
}

/// The integer arguments after VERSION (Redis' defaults where absent).
fn int_args<const N: usize>(
    args: &[Bytes],
    defaults: [i64; N],
) -> Result<[i64; N], crate::error::CmdError> {
    let mut out = defaults;
    for (slot, a) in out.iter_mut().zip(args) {
        *slot = arg_i64(a)?;
    }
    Ok(out)
}

/// LOLWUT [VERSION version] [art arguments]
pub fn lolwut(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (version, rest) = if args.len() >= 3 && is(&args[1], "version") {
        (Some(arg_i64(&args[2])?), &args[3..])
    } else {
        (None, &args[1..])
    };
    // Redis picks the art by the first characters of "<v>.0.0" (the
    // version as an unsigned int): 5 and 6 have art, all others do not.
    let version = version.map(|v| v as u32);
    let text = match version {
        Some(5) => {
            let [cols, per_row, per_col] = int_args(rest, [66, 8, 12])?;
            let canvas = schotter(
                cols.clamp(1, 1000),
                per_row.clamp(1, 200),
                per_col.clamp(1, 200),
            );
            format!(
                "{}\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. {REDIS_VERSION}\n",
                render_braille(&canvas)
            )
        }
        Some(6) => {
            let [cols, rows] = int_args(rest, [80, 20])?;
            let canvas = skyline(cols.clamp(1, 1000), rows.clamp(1, 1000));
            format!(
                "{}\nDedicated to the 8 bit game developers of past and present.\nOriginal 8 bit image from Plaguemon by hikikomori. Redis ver. {REDIS_VERSION}\n",
                render_colors(&canvas)
            )
        }
        _ => format!("Redis ver. {REDIS_VERSION}\n"),
    };
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schotter_shape() {
        // Redis 7.0.15's `LOLWUT VERSION 5 1 1 1` (no randomness in the
        // first two rows): one Braille cell, "⠋", and the newline Redis
        // writes after a row of a canvas whose height is not 4k+1.
        assert_eq!(render_braille(&schotter(1, 1, 1)), "\u{280B}\n");
        let c = schotter(66, 8, 12);
        let text = render_braille(&c);
        assert_eq!(text.lines().count() as i64, (c.height + 3) / 4);
        assert!(text.lines().all(|l| l.chars().count() == 66));
        // The first two rows are unrotated squares: the top-left corner of
        // the first one is where Redis draws it.
        assert_ne!(c.get(2, 2) + c.get(3, 2) + c.get(2, 3), 0);
    }

    #[test]
    fn skyline_shape() {
        let c = skyline(80, 20);
        let text = render_colors(&c);
        assert_eq!(text.lines().count(), 20);
        assert!(c.pixels.contains(&0));
    }
}
