//! Who may use a listener: the access rules the RESP and the memcached
//! listeners share. Protected mode (on, no `requirepass`) admits only
//! loopback peers; each protocol words the refusal its own way (RESP's
//! `-DENIED ...`, memcached's `SERVER_ERROR DENIED ...`) around the same
//! text, Redis' own.

use std::net::IpAddr;

/// Redis' protected-mode refusal text, without framing.
macro_rules! protected_mode_text {
    () => {
        "DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside."
    };
}

/// The protected-mode refusal a RESP client reads before the close (Redis').
pub const PROTECTED_MODE_RESP: &str = concat!("-", protected_mode_text!(), "\r\n");

/// The protected-mode refusal a memcached client reads before the close:
/// memcached's server-error line carrying Redis' text.
pub const PROTECTED_MODE_MEMCACHED: &str = concat!("SERVER_ERROR ", protected_mode_text!(), "\r\n");

/// A listener's access rules, read from the settings when a connection
/// arrives.
#[derive(Clone, Copy, Debug)]
pub struct Access {
    /// `protected-mode`.
    pub protected: bool,
    /// `requirepass` is set: clients must authenticate.
    pub needs_auth: bool,
}

impl Access {
    /// The rules in force now.
    pub fn of(c: &crate::config::Settings) -> Access {
        Access {
            protected: c.protected_mode,
            needs_auth: !c.requirepass.is_empty(),
        }
    }

    /// True when protected mode refuses `peer`: it is on, no password is
    /// set, and the peer is not on the loopback interface.
    pub fn refuses(self, peer: IpAddr) -> bool {
        self.protected && !self.needs_auth && !peer.to_canonical().is_loopback()
    }
}
