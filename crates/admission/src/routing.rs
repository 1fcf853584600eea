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

/// Why a routing configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutingError {
    /// A weight outside [0, 1].
    WeightOutOfRange,
    /// More than one additional version.
    TooManyVersions,
    /// The additional version is the alias's own version.
    SameVersion,
    /// Routing only works between published versions.
    NotPublished,
}

/// Checks a routing configuration as Lambda does.
pub fn validate(primary: &str, additional: &[(String, f64)]) -> Result<(), RoutingError> {
    match additional {
        [] => Ok(()),
        [(version, weight)] => {
            if !(0.0..=1.0).contains(weight) || weight.is_nan() {
                Err(RoutingError::WeightOutOfRange)
            } else if version == primary {
                Err(RoutingError::SameVersion)
            } else if primary == "$LATEST" || version == "$LATEST" {
                Err(RoutingError::NotPublished)
            } else {
                Ok(())
            }
        }
        _ => Err(RoutingError::TooManyVersions),
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
        check("1", &[], Ok(()));
        check("$LATEST", &[], Ok(()));
        check("1", &[("2", 0.5)], Ok(()));
        check("1", &[("2", 1.5)], Err(RoutingError::WeightOutOfRange));
        check("1", &[("2", -0.1)], Err(RoutingError::WeightOutOfRange));
        check("1", &[("1", 0.5)], Err(RoutingError::SameVersion));
        check("$LATEST", &[("2", 0.5)], Err(RoutingError::NotPublished));
        check(
            "1",
            &[("2", 0.1), ("3", 0.1)],
            Err(RoutingError::TooManyVersions),
        );
    }
}
