//! Outbound connections of environments: IPv4 forwarding and `iptables` rules that masquerade
//! traffic from the environments' link-local range, and keep environments away from the host's
//! own services and from each other. The rules are the same for every flint on a host and are
//! added only when missing, so servers sharing a host never remove each other's.

use std::process::{Command, Stdio};

/// Every environment-side veth is `flint-<n>`; iptables matches them all with `flint-+`.
const INTERFACES: &str = "flint-+";

/// One rule: table, chain, and the rule's match and target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IptablesRule {
    pub(crate) table: &'static str,
    pub(crate) chain: &'static str,
    pub(crate) spec: Vec<String>,
    pub(crate) reason: &'static str,
}

/// The rules for environments in `range` (CIDR), in the order they are inserted at the head of
/// their chains (so the last one ends up first).
pub(crate) fn rules(range: &str) -> Vec<IptablesRule> {
    let rule = |table, chain, spec: &str, reason| IptablesRule {
        table,
        chain,
        spec: spec.split(' ').map(str::to_string).collect(),
        reason,
    };
    vec![
        rule(
            "nat",
            "POSTROUTING",
            &format!("-s {range} ! -o {INTERFACES} -j MASQUERADE"),
            "link-local addresses are not routable: outbound traffic leaves with the host's address",
        ),
        rule(
            "filter",
            "FORWARD",
            &format!("-o {INTERFACES} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
            "answers to an environment's own connections come back",
        ),
        rule(
            "filter",
            "FORWARD",
            &format!("-i {INTERFACES} ! -o {INTERFACES} -j ACCEPT"),
            "environments may connect out, even where forwarding is dropped by default",
        ),
        rule(
            "filter",
            "FORWARD",
            &format!("-i {INTERFACES} -o {INTERFACES} -j DROP"),
            "environments never reach each other",
        ),
        rule(
            "filter",
            "INPUT",
            &format!("-i {INTERFACES} -j DROP"),
            "environments never reach the host's own services (flint's API is forwarded inside)",
        ),
    ]
}

fn iptables(args: &[&str]) -> Result<(), String> {
    let output = Command::new("iptables")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run iptables: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

/// Turns on forwarding and adds the missing rules. Says why egress is impossible otherwise.
pub(crate) fn enable(range: &str) -> Result<(), String> {
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
        .map_err(|e| format!("could not turn on IPv4 forwarding: {e}"))?;
    for rule in rules(range) {
        let spec: Vec<&str> = rule.spec.iter().map(String::as_str).collect();
        let mut check = vec!["-w", "-t", rule.table, "-C", rule.chain];
        check.extend(&spec);
        if iptables(&check).is_ok() {
            continue;
        }
        let mut insert = vec!["-w", "-t", rule.table, "-I", rule.chain];
        insert.extend(&spec);
        iptables(&insert)
            .map_err(|e| format!("could not add the rule for {:?}: {e}", rule.reason))?;
    }
    Ok(())
}

/// Whether `iptables` can be run at all (for `flint doctor`).
pub(crate) fn iptables_works() -> Result<(), String> {
    iptables(&["-w", "-t", "nat", "-S", "POSTROUTING"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masquerades_the_range_and_fences_environments() {
        let rules = rules("169.254.128.0/17");
        let lines: Vec<String> = rules
            .iter()
            .map(|r| format!("{} {} {}", r.table, r.chain, r.spec.join(" ")))
            .collect();
        assert_eq!(
            lines,
            [
                "nat POSTROUTING -s 169.254.128.0/17 ! -o flint-+ -j MASQUERADE",
                "filter FORWARD -o flint-+ -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
                "filter FORWARD -i flint-+ ! -o flint-+ -j ACCEPT",
                "filter FORWARD -i flint-+ -o flint-+ -j DROP",
                "filter INPUT -i flint-+ -j DROP",
            ]
        );
        assert!(rules.iter().all(|r| !r.reason.is_empty()));
    }
}
