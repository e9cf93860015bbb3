//! The cluster bus's authenticated UDP transport: every gossip datagram of a
//! cluster with a `cluster-secret` ends with a MAC of that secret
//! (`cluster::peer_auth::seal_gossip`); a datagram whose MAC is wrong (junk,
//! another cluster, a forgery) is dropped before chitchat sees it, with one
//! WARN line per `bus_junk::REPORT_INTERVAL` (the others counted).
//!
//! Why a relay: chitchat (kept as the gossip crate) encodes and decodes its
//! messages only inside its own UDP socket. [`MacSocket`] therefore drives
//! one such socket on loopback as its codec: to send, chitchat's socket
//! encodes the message to a loopback tap, whose datagram is sealed and sent
//! from the real bus socket; to receive, an opened datagram is handed to
//! chitchat's socket through the tap and its decoded message is returned
//! with the real sender's address. Each step waits for its one datagram, so
//! a message is never paired with another's address (a step cut short by
//! cancellation is completed first on the next call).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chitchat::transport::{RecvOutcome, SendOutcome, Socket, Transport, UdpSocket as CodecSocket};
use chitchat::ChitchatEnvelope;
use tokio::net::UdpSocket;

use crate::cluster::peer_auth::{open_gossip, seal_gossip};

/// Largest UDP payload (IPv4).
const MAX_DATAGRAM: usize = 65_507;
/// How long one loopback hop to or from the codec socket may take.
const HOP: Duration = Duration::from_millis(200);

/// chitchat transport whose datagrams carry a MAC of `secret`.
pub struct MacTransport {
    /// The cluster secret (not empty).
    pub secret: String,
}

#[async_trait]
impl Transport for MacTransport {
    async fn open(&self, listen_addr: SocketAddr) -> anyhow::Result<Box<dyn Socket>> {
        let outer = UdpSocket::bind(listen_addr)
            .await
            .with_context(|| format!("failed to bind to {listen_addr}/UDP for gossip"))?;
        let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
        let codec = CodecSocket::open(loopback).await?;
        let tap = UdpSocket::bind(loopback).await?;
        let codec_addr = codec.local_addr()?;
        Ok(Box::new(MacSocket {
            secret: self.secret.clone(),
            outer,
            codec,
            codec_addr,
            tap,
            buf: vec![0; MAX_DATAGRAM + 1].into_boxed_slice(),
            unsent: None,
            undecoded: None,
        }))
    }
}

/// One bus socket (see the module docs).
struct MacSocket {
    secret: String,
    /// The bus socket peers talk to.
    outer: UdpSocket,
    /// chitchat's own socket on loopback, used as the codec.
    codec: CodecSocket,
    codec_addr: SocketAddr,
    /// Loopback socket the codec socket sends to and receives from.
    tap: UdpSocket,
    buf: Box<[u8]>,
    /// Destination of an encoded message not yet read from the tap.
    unsent: Option<SocketAddr>,
    /// Sender of an opened datagram not yet decoded by the codec socket.
    undecoded: Option<SocketAddr>,
}

impl MacSocket {
    /// Reads the codec's pending encoded message from the tap, seals it and
    /// sends it to `to` from the bus socket.
    async fn forward_encoded(&mut self, to: SocketAddr) -> anyhow::Result<usize> {
        let read = tokio::time::timeout(HOP, self.tap.recv_from(&mut self.buf)).await;
        self.unsent = None;
        let Ok(read) = read else {
            tracing::debug!("gossip codec produced no datagram");
            return Ok(0);
        };
        let (n, _) = read.context("gossip tap")?;
        let mut datagram = self.buf[..n].to_vec();
        seal_gossip(&self.secret, &mut datagram);
        if datagram.len() > MAX_DATAGRAM {
            tracing::debug!(
                len = datagram.len(),
                "gossip datagram too large once sealed: dropped"
            );
            return Ok(0);
        }
        match self.outer.send_to(&datagram, to).await {
            Ok(sent) => Ok(sent),
            // An unreachable peer is the failure detector's business.
            Err(e) => {
                tracing::debug!(%to, "gossip send failed: {e}");
                Ok(0)
            }
        }
    }

    /// Lets the codec decode the datagram handed to it for `from`.
    async fn decode(&mut self, from: SocketAddr) -> Option<RecvOutcome> {
        let decoded = tokio::time::timeout(HOP, self.codec.recv()).await;
        self.undecoded = None;
        match decoded {
            Ok(Ok(mut outcome)) => {
                outcome.from_addr = from;
                Some(outcome)
            }
            _ => None,
        }
    }
}

#[async_trait]
impl Socket for MacSocket {
    fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        self.outer.local_addr().context("gossip socket address")
    }

    async fn send(
        &mut self,
        to: SocketAddr,
        envelope: ChitchatEnvelope,
    ) -> anyhow::Result<SendOutcome> {
        if let Some(earlier) = self.unsent {
            self.forward_encoded(earlier).await?;
        }
        let tap = self.tap.local_addr()?;
        self.unsent = Some(to);
        self.codec.send(tap, envelope).await?;
        let num_bytes_sent = self.forward_encoded(to).await?;
        Ok(SendOutcome { num_bytes_sent })
    }

    async fn recv(&mut self) -> anyhow::Result<RecvOutcome> {
        loop {
            if let Some(from) = self.undecoded {
                if let Some(outcome) = self.decode(from).await {
                    return Ok(outcome);
                }
            }
            let (n, from) = match self.outer.recv_from(&mut self.buf).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!("gossip recv: {e}");
                    continue;
                }
            };
            let Some(payload) = open_gossip(&self.secret, &self.buf[..n]) else {
                // Rate limited with chitchat's own junk warnings (`bus_junk`).
                tracing::warn!(%from, len = n, "gossip datagram with a wrong MAC dropped (junk, another cluster or a forgery)");
                continue;
            };
            self.undecoded = Some(from);
            self.tap.send_to(payload, self.codec_addr).await?;
        }
    }
}
