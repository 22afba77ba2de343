//! Where deliveries may go (DESIGN.md §6): no loopback, private, link-local, shared (CGNAT),
//! multicast, reserved, unique-local or metadata addresses, also in their IPv4-mapped and
//! NAT64 forms, unless an operator allows a network; HTTPS only, if asked.
//!
//! Checked at registration for hosts that are IP addresses ([`Egress::check_url`]) and on
//! every connection against the addresses a name resolves to ([`GuardedResolver`]), so a
//! name that changes its answer after registration (DNS rebinding) is refused too.
//! Redirects are never followed (`deliver.rs`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde::{Deserialize, Serialize};

/// Settings of outgoing requests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EgressConfig {
    /// Networks deliveries may reach although they are otherwise refused, in CIDR notation
    /// (`127.0.0.1/32` for a laptop, `10.20.0.0/16` for an internal receiver).
    pub allow: Vec<String>,
    /// Refuse webhook URLs that are not `https://`.
    pub https_only: bool,
}

/// Why a destination is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{addr} is a {kind} address; deliveries to it are refused (egress.allow can permit a network)")]
    Address { addr: IpAddr, kind: &'static str },
    #[error("{host} resolves only to refused addresses ({first})")]
    Resolved { host: String, first: Box<Refusal> },
    #[error("only https:// URLs are accepted (egress.https_only)")]
    NotHttps,
}

/// The egress policy, built once from [`EgressConfig`].
#[derive(Debug, Clone, Default)]
pub struct Egress {
    allow: Vec<IpNet>,
    https_only: bool,
}

impl Egress {
    pub fn new(config: &EgressConfig) -> Result<Egress, String> {
        let allow = config
            .allow
            .iter()
            .map(|net| {
                net.parse::<IpNet>()
                    .or_else(|_| net.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("egress.allow: {net:?} is not a network such as 10.0.0.0/8 or an address"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Egress {
            allow,
            https_only: config.https_only,
        })
    }

    /// Checks a URL without resolving it: the scheme, and the host when it is an address.
    pub fn check_url(&self, url: &reqwest::Url) -> Result<(), Refusal> {
        if self.https_only && url.scheme() != "https" {
            return Err(Refusal::NotHttps);
        }
        match url.host() {
            Some(url::Host::Ipv4(v4)) => self.check_ip(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => self.check_ip(IpAddr::V6(v6)),
            _ => Ok(()),
        }
    }

    /// Whether a connection to `addr` may be made.
    pub fn check_ip(&self, addr: IpAddr) -> Result<(), Refusal> {
        if self.allow.iter().any(|net| net.contains(&addr)) {
            return Ok(());
        }
        match forbidden(addr) {
            Some(kind) => Err(Refusal::Address { addr, kind }),
            None => Ok(()),
        }
    }
}

/// The kind of a refused address, or `None` for a public unicast one.
pub fn forbidden(addr: IpAddr) -> Option<&'static str> {
    match addr {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let kind = match (a, b, c) {
        _ if ip == Ipv4Addr::new(169, 254, 169, 254) => "cloud metadata",
        _ if ip == Ipv4Addr::new(100, 100, 100, 200) => "cloud metadata",
        _ if ip.is_broadcast() => "broadcast",
        (0, _, _) => "unspecified (this network)",
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => "private",
        (100, 64..=127, _) => "shared (CGNAT)",
        (127, _, _) => "loopback",
        (169, 254, _) => "link-local",
        (192, 0, 0) => "IETF protocol assignment",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (192, 88, 99) => "reserved (6to4 relay)",
        (198, 18..=19, _) => "benchmarking",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved",
        _ => return None,
    };
    Some(kind)
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4).map(|_| "IPv4-mapped refused");
    }
    let s = ip.segments();
    // NAT64 (64:ff9b::/96) reaches the IPv4 address in its low 32 bits.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return forbidden_v4(v4).map(|_| "NAT64 of a refused");
    }
    let kind = match s[0] {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        _ if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) => "cloud metadata",
        // ::/96, the deprecated IPv4-compatible form, and other ::/8 space.
        0x0000 => "reserved",
        0x0100 if s[1..4] == [0, 0, 0] => "discard-only",
        0x2001 if s[1] < 0x0200 => "IETF protocol assignment",
        0x2001 if s[1] == 0x0db8 => "documentation",
        0x2002 => "6to4",
        0xfc00..=0xfdff => "unique-local",
        0xfe80..=0xfebf => "link-local",
        0xfec0..=0xfeff => "site-local (deprecated)",
        0xff00..=0xffff => "multicast",
        _ => return None,
    };
    Some(kind)
}

/// A resolver that answers only addresses the policy permits: what a name resolves to is
/// checked on every connection, not once at registration.
pub struct GuardedResolver {
    egress: Arc<Egress>,
}

impl GuardedResolver {
    pub fn new(egress: Arc<Egress>) -> GuardedResolver {
        GuardedResolver { egress }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let egress = self.egress.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut first = None;
            let permitted: Vec<SocketAddr> = found
                .into_iter()
                .filter(|addr| match egress.check_ip(addr.ip()) {
                    Ok(()) => true,
                    Err(refusal) => {
                        first.get_or_insert(refusal);
                        false
                    }
                })
                .collect();
            match (permitted.is_empty(), first) {
                (true, Some(first)) => Err(Box::new(Refusal::Resolved {
                    host,
                    first: Box::new(first),
                })
                    as Box<dyn std::error::Error + Send + Sync>),
                _ => Ok(Box::new(permitted.into_iter()) as Addrs),
            }
        })
    }
}

/// Whether `error` (from reqwest) is, somewhere down its chain, a refusal.
pub fn is_refusal(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.downcast_ref::<Refusal>().is_some() {
            return true;
        }
        current = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refused_form_is_named_and_public_addresses_pass() {
        let refused = [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("0.0.0.0", "unspecified (this network)"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "shared (CGNAT)"),
            ("100.127.255.254", "shared (CGNAT)"),
            ("169.254.169.254", "cloud metadata"),
            ("100.100.100.200", "cloud metadata"),
            ("169.254.1.1", "link-local"),
            ("192.0.0.8", "IETF protocol assignment"),
            ("192.0.2.5", "documentation"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("198.18.0.1", "benchmarking"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "broadcast"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("::ffff:127.0.0.1", "IPv4-mapped refused"),
            ("::ffff:169.254.169.254", "IPv4-mapped refused"),
            ("::ffff:10.0.0.1", "IPv4-mapped refused"),
            ("::127.0.0.1", "reserved"),
            ("64:ff9b::a00:1", "NAT64 of a refused"),
            ("fc00::1", "unique-local"),
            ("fd12:3456::1", "unique-local"),
            ("fd00:ec2::254", "cloud metadata"),
            ("fe80::1", "link-local"),
            ("fec0::1", "site-local (deprecated)"),
            ("ff02::1", "multicast"),
            ("2001:db8::1", "documentation"),
            ("2002:7f00:1::", "6to4"),
            ("100::1", "discard-only"),
        ];
        for (addr, kind) in refused {
            let ip: IpAddr = addr.parse().expect(addr);
            assert_eq!(forbidden(ip), Some(kind), "{addr}");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "192.169.0.1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2606:4700::1111",
            "2a00:1450::1",
        ] {
            let ip: IpAddr = public.parse().expect(public);
            assert_eq!(forbidden(ip), None, "{public}");
        }
    }

    #[test]
    fn the_allow_list_permits_only_what_it_names() {
        let strict = Egress::default();
        let laptop = Egress::new(&EgressConfig {
            allow: vec!["127.0.0.1/32".into(), "10.20.0.0/16".into(), "::1".into()],
            https_only: false,
        })
        .expect("valid");
        for addr in ["127.0.0.1", "10.20.3.4", "::1"] {
            let ip: IpAddr = addr.parse().expect("ip");
            assert!(strict.check_ip(ip).is_err(), "{addr} refused by default");
            assert_eq!(laptop.check_ip(ip), Ok(()), "{addr} allowed");
        }
        for addr in ["127.0.0.2", "10.21.0.1", "169.254.169.254"] {
            let ip: IpAddr = addr.parse().expect("ip");
            assert!(laptop.check_ip(ip).is_err(), "{addr} still refused");
        }
        let err = Egress::new(&EgressConfig {
            allow: vec!["10.0.0.0/33".into()],
            https_only: false,
        })
        .expect_err("bad network");
        assert!(err.contains("egress.allow"), "{err}");
    }

    #[test]
    fn urls_are_checked_by_scheme_and_literal_host() {
        let https = Egress::new(&EgressConfig {
            allow: vec![],
            https_only: true,
        })
        .expect("valid");
        let url = |u: &str| reqwest::Url::parse(u).expect(u);
        assert_eq!(
            https.check_url(&url("http://example.com/")),
            Err(Refusal::NotHttps)
        );
        assert_eq!(https.check_url(&url("https://example.com/")), Ok(()));
        let strict = Egress::default();
        for refused in [
            "http://127.0.0.1:9000/hook",
            "http://[::1]/",
            "http://[::ffff:7f00:1]/",
            "http://169.254.169.254/latest/meta-data",
            "http://2130706433/",
            "http://0x7f.1/",
        ] {
            assert!(strict.check_url(&url(refused)).is_err(), "{refused}");
        }
        assert_eq!(strict.check_url(&url("http://example.com/")), Ok(()));
    }

    #[tokio::test]
    async fn names_that_resolve_to_refused_addresses_do_not_connect() {
        let resolver = GuardedResolver::new(Arc::new(Egress::default()));
        let name: Name = "localhost".parse().expect("name");
        let err = match resolver.resolve(name).await {
            Ok(addrs) => panic!("resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(e) => e,
        };
        assert!(is_refusal(err.as_ref()), "{err}");
        assert!(err.to_string().contains("loopback"), "{err}");

        let allowed = GuardedResolver::new(Arc::new(
            Egress::new(&EgressConfig {
                allow: vec!["127.0.0.0/8".into(), "::1".into()],
                https_only: false,
            })
            .expect("valid"),
        ));
        let name: Name = "localhost".parse().expect("name");
        let addrs: Vec<SocketAddr> = match allowed.resolve(name).await {
            Ok(addrs) => addrs.collect(),
            Err(e) => panic!("{e}"),
        };
        assert!(!addrs.is_empty());
    }
}
