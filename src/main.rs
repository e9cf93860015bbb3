//! `ringcache [config-file] [--name value ...]`: starts one node.

use ringcache::alloc::CountingAlloc;
use ringcache::config::Settings;
use tracing_subscriber::prelude::*;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn main() {
    ringcache::alloc::tune_malloc();
    // Command timing reads the TSC through quanta; calibrate it before serving.
    let _ = quanta::Instant::now();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: ringcache [/path/to/ringcache.conf] [--port 6379] [--bind 127.0.0.1] [--maxmemory 1gb] [--<config-name> <value> ...]");
        return;
    }
    if args.iter().any(|a| a == "--version" || a == "-v") {
        println!("ringcache {}", env!("CARGO_PKG_VERSION"));
        return;
    }
    let settings = match Settings::from_args(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ringcache: {e}");
            std::process::exit(1);
        }
    };
    let filter = match settings.loglevel.as_str() {
        "debug" => "debug",
        "verbose" => "info",
        "warning" => "warn",
        "nothing" => "off",
        _ => "info",
    };
    let env =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| filter.into());
    // Per-datagram warnings of the cluster bus are rate limited (`bus_junk`).
    let bus_junk = tracing_subscriber::filter::dynamic_filter_fn(|meta, _| {
        ringcache::cluster::bus_junk::filter(meta)
    });
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_filter(env)
                .with_filter(bus_junk),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.worker_threads())
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ringcache: cannot start runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(ringcache::server::run(settings)) {
        eprintln!("ringcache: {e}");
        std::process::exit(1);
    }
}
