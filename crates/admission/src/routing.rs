//! Weighted alias routing: an alias points at one version and may send a share of its
//! invocations to one additional version.

/// An alias's routing: its version, and optionally another version with a weight in [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct Routing<'a> {
    pub primary: &'a str,
    pub additional: Option<(&'a str, f64)>,
}

impl<'a> Routing<'a> {
    /// The version that runs an invocation, given `roll`, a uniform random number in [0, 1).
    pub fn choose(&self, roll: f64) -> &'a str {
        match self.additional {
            Some((version, weight)) if roll < weight => version,
            _ => self.primary,
        }
    }
}

/// Why a routing configuration is refused, in the order Lambda checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutingError {
    /// More than one additional version.
    TooManyVersions,
    /// A weight outside [0, 1].
    WeightOutOfRange,
    /// The additional version is the alias's own version.
    SameVersion,
    /// The alias points at `$LATEST`, which cannot share its invocations.
    LatestWithRouting,
    /// The additional version is not a published version number.
    NotPublished,
}

/// Checks a routing configuration as Lambda does: `primary` is the alias's version, each
/// additional version comes with its weight.
pub fn validate(primary: &str, additional: &[(String, f64)]) -> Result<(), RoutingError> {
    match additional {
        [] => Ok(()),
        [(version, weight)] => {
            if weight.is_nan() || !(0.0..=1.0).contains(weight) {
                Err(RoutingError::WeightOutOfRange)
            } else if version == primary {
                Err(RoutingError::SameVersion)
            } else if primary == "$LATEST" {
                Err(RoutingError::LatestWithRouting)
            } else if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
                Err(RoutingError::NotPublished)
            } else {
                Ok(())
            }
        }
        _ => Err(RoutingError::TooManyVersions),
    }
}

impl Routing<'_> {
    /// How `count` environments kept ready for the alias are shared: the additional version gets
    /// its weight's share, rounded to the nearest whole environment, the alias's version the rest.
    pub fn split(&self, count: u32) -> (u32, u32) {
        match self.additional {
            Some((_, weight)) => {
                let extra = (f64::from(count) * weight.clamp(0.0, 1.0)).round() as u32;
                let extra = extra.min(count);
                (count - extra, extra)
            }
            None => (count, 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_roll_picks_by_weight() {
        let routing = Routing {
            primary: "1",
            additional: Some(("2", 0.25)),
        };
        assert_eq!(routing.choose(0.0), "2");
        assert_eq!(routing.choose(0.2499), "2");
        assert_eq!(routing.choose(0.25), "1");
        assert_eq!(routing.choose(0.99), "1");
        let plain = Routing {
            primary: "3",
            additional: None,
        };
        assert_eq!(plain.choose(0.0), "3");
    }

    #[test]
    fn a_uniform_roll_matches_the_weight() {
        let routing = Routing {
            primary: "1",
            additional: Some(("2", 0.3)),
        };
        let n = 10_000;
        let to_two = (0..n)
            .filter(|i| routing.choose(f64::from(*i) / f64::from(n)) == "2")
            .count();
        assert_eq!(to_two, 3_000);
    }

    #[track_caller]
    fn check(primary: &str, additional: &[(&str, f64)], expect: Result<(), RoutingError>) {
        let additional: Vec<(String, f64)> = additional
            .iter()
            .map(|(v, w)| (v.to_string(), *w))
            .collect();
        assert_eq!(validate(primary, &additional), expect);
    }

    #[test]
    fn validation_rules() {
        use RoutingError::*;
        check("1", &[], Ok(()));
        check("$LATEST", &[], Ok(()));
        check("1", &[("2", 0.5)], Ok(()));
        check("1", &[("2", 0.0)], Ok(()));
        check("1", &[("2", 1.0)], Ok(()));
        check("1", &[("2", 1.5)], Err(WeightOutOfRange));
        check("1", &[("2", -0.1)], Err(WeightOutOfRange));
        check("1", &[("2", f64::NAN)], Err(WeightOutOfRange));
        check("1", &[("1", 0.5)], Err(SameVersion));
        check("$LATEST", &[("2", 0.5)], Err(LatestWithRouting));
        check("1", &[("$LATEST", 0.5)], Err(NotPublished));
        check("1", &[("live", 0.5)], Err(NotPublished));
        check("1", &[("2", 0.1), ("3", 0.1)], Err(TooManyVersions));
        // Lambda counts the versions before it looks at the weights.
        check("1", &[("2", 7.0), ("3", 0.1)], Err(TooManyVersions));
    }

    #[track_caller]
    fn check_split(additional: Option<f64>, count: u32, expect: (u32, u32)) {
        let routing = Routing {
            primary: "1",
            additional: additional.map(|weight| ("2", weight)),
        };
        assert_eq!(routing.split(count), expect, "{additional:?} of {count}");
    }

    #[test]
    fn provisioned_environments_follow_the_weights() {
        check_split(None, 5, (5, 0));
        check_split(Some(0.2), 10, (8, 2));
        check_split(Some(0.25), 2, (1, 1));
        check_split(Some(0.1), 3, (3, 0));
        check_split(Some(1.0), 4, (0, 4));
        check_split(Some(0.5), 0, (0, 0));
    }
}
