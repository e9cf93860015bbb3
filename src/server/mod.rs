//! The server: listeners, connection shells, start-up, background tasks and
//! shutdown (the top layer: it holds the sockets and drives everything below).

pub mod access;
pub mod blocked;
pub mod busypoll;
pub mod conn;
pub mod forward;
pub mod gossip_task;
pub mod gossip_transport;
pub mod lease_task;
pub mod mc_conn;
pub mod metrics;
pub mod migrate_cmd;
pub mod migrate_task;
pub mod raft_task;
pub mod replica_feed;
pub mod replica_task;
pub mod spare;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::cluster::Cluster;
use crate::cmd::Shared;
use crate::config::Settings;
use crate::error::StartError;
use crate::node::Node;
use crate::store::now_ms;

/// Binds the listeners and serves until shutdown. Returns when stopped.
pub async fn run(settings: Settings) -> Result<(), StartError> {
    let shared = Shared::new(settings.clone());
    let listeners = bind_all(&settings).await?;
    let mc_listeners = mc_conn::bind(&settings).await?;
    let _ = shared.mc_exec.set(crate::memcache::proxy::execute_for_peer);
    mc_conn::spawn(shared.clone(), mc_listeners)?;
    tokio::spawn(busypoll::run(shared.clone()));
    if let Some(l) = listeners.first() {
        if let Ok(a) = l.local_addr() {
            shared.bound_port.store(a.port() as u64, Ordering::Relaxed);
        }
    }
    if settings.metrics_port != 0 {
        let host = settings
            .bind
            .first()
            .map(|s| s.trim_start_matches('-'))
            .unwrap_or("127.0.0.1");
        if let Err(e) = metrics::start(&shared, host, settings.metrics_port) {
            warn!("metrics exporter not started: {e}");
        }
    }
    if settings.cluster_enabled {
        let port = shared.bound_port.load(Ordering::Relaxed) as u16;
        let cluster =
            Cluster::new(&settings, port).map_err(|source| StartError::Cluster { source })?;
        info!(id = %cluster.id, "cluster mode");
        let cluster = Arc::new(cluster);
        let _ = shared.cluster.set(cluster.clone());
        tokio::spawn(run_cluster(shared.node.clone(), cluster));
    }
    info!(
        port = settings.port,
        "ringcache ready to accept connections"
    );
    serve(shared, listeners).await;
    Ok(())
}

/// Cluster mode's tasks: the gossip bus first; once it listens, the raft
/// agreement and the migration task, then the gossip rounds until shutdown.
async fn run_cluster(node: Arc<Node>, cluster: Arc<Cluster>) {
    let Some(bus) = gossip_task::start_bus(&node, &cluster).await else {
        return;
    };
    tokio::spawn(raft_task::run_raft(node.clone(), cluster.clone()));
    tokio::spawn(lease_task::run_lease(node.clone(), cluster.clone()));
    tokio::spawn(migrate_task::run_migration(node.clone(), cluster.clone()));
    gossip_task::run_gossip(node, cluster, bus).await;
}

async fn bind_all(settings: &Settings) -> Result<Vec<TcpListener>, StartError> {
    bind_port(&settings.bind, settings.port).await
}

/// Binds `port` on every `bind` address (IPv6 ones in brackets; a leading
/// `-` marks an optional address in redis.conf and is ignored).
pub async fn bind_port(hosts: &[String], port: u16) -> Result<Vec<TcpListener>, StartError> {
    let mut out = Vec::new();
    for host in hosts {
        let host = host.trim_start_matches('-');
        let addr = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let l = TcpListener::bind(&addr)
            .await
            .map_err(|source| StartError::Listen {
                addr: addr.clone(),
                source,
            })?;
        out.push(l);
    }
    Ok(out)
}

/// Serves already-bound listeners (tests bind port 0 and call this).
pub async fn serve(shared: Arc<Shared>, listeners: Vec<TcpListener>) {
    let mut rx = shared.shutdown.subscribe();
    // Registered before any client can be served, so a signal that arrives
    // right after start-up still shuts down gracefully.
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            let sh = shared.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = int.recv() => info!("received SIGINT, shutting down"),
                    _ = term.recv() => info!("received SIGTERM, shutting down"),
                }
                sh.shutdown_gracefully();
            });
        }
        (Err(e), _) | (_, Err(e)) => warn!("cannot install signal handlers: {e}"),
    }
    crate::alloc::mark_startup();
    for l in listeners {
        let sh = shared.clone();
        tokio::spawn(async move { accept_loop(sh, l).await });
    }
    tokio::spawn(background(shared.clone()));
    tokio::spawn(replica_task::run(shared.clone()));
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            break;
        }
    }
    // Give connections a moment to flush their last replies.
    tokio::time::sleep(Duration::from_millis(50)).await;
    info!("ringcache is now ready to exit, bye bye...");
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    accept_until_shutdown(shared, listener, "RESP", |sh, sock, addr| {
        sh.stats
            .connections_received
            .fetch_add(1, Ordering::Relaxed);
        conn::handle(sh, sock, addr)
    })
    .await;
}

/// Accepts connections on `listener` until shutdown and runs `serve` for each
/// on its own task (the RESP and the memcached listeners share this loop).
pub(crate) async fn accept_until_shutdown<F, Fut>(
    shared: Arc<Shared>,
    listener: TcpListener,
    protocol: &'static str,
    serve: F,
) where
    F: Fn(Arc<Shared>, tokio::net::TcpStream, std::net::SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut stop = shared.shutdown.subscribe();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.changed() => return,
        };
        match accepted {
            Ok((sock, addr)) => {
                tokio::spawn(serve(shared.clone(), sock, addr));
            }
            Err(e) => {
                warn!("{protocol} accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Periodic work: active expiry, ops/sec sampling, handing freed memory back
/// to the kernel, the replication stream's PINGs; idle timeouts are per
/// connection.
async fn background(shared: Arc<Shared>) {
    let mut stop = shared.shutdown.subscribe();
    let mut expiry = crate::store::expire::ActiveExpiry::default();
    let mut next_ping = 0;
    loop {
        let hz = shared.config.read().hz.max(1);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(1000 / hz)) => {}
            _ = stop.changed() => return,
        }
        // A replica's keys expire when its primary says so (its DELs).
        if shared.active_expire.load(Ordering::Relaxed) && !shared.repl.is_replica() {
            // The expired keys go to the replicas as DELs, in order with
            // the commands (see `cmd::propagate`); a round is skipped while
            // a transaction or script holds the gate, as Redis does not
            // expire keys in the middle of one.
            if let Some(_gate) = shared.gate.try_read() {
                crate::cmd::propagate::record(&shared.node, None, || {
                    expiry.cycle(&shared.store, Duration::from_micros(25_000 / hz * 10 / 10))
                });
            }
        }
        if shared.store.tracking.is_on() {
            crate::cmd::tracking::between_commands(&shared.node);
        }
        crate::cmd::info::sample_memory_peak();
        crate::alloc::trim_after_shrink();
        let now = now_ms();
        if now >= next_ping
            && shared.repl.active()
            && !shared.repl.is_replica()
            // Redis' `repl-ping-replica-period`: replicas see a live link.
            && crate::cmd::propagate::ping(&shared.node)
        {
            let period: u64 = shared
                .config
                .read()
                .stored_value("repl-ping-replica-period")
                .parse()
                .unwrap_or(10);
            next_ping = now + period * 1000;
        }
        let ops = shared.stats.commands_processed.load(Ordering::Relaxed);
        let mut s = shared.ops_samples.lock();
        s.push_back((now, ops));
        while s.len() > 16 {
            s.pop_front();
        }
    }
}
