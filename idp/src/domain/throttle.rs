//! Throttling rules for sign-in and the mail request forms (SECURITY AV-01, AV-04, ML-03):
//! which counter applies, how many events a window allows, and what a count means now.
//!
//! A window is fixed: it starts at the first event and lasts `window`; once over, the
//! next event starts a new one. Pure: the counts come from the store, `now` from the caller.

use time::{Duration, OffsetDateTime};

/// A kind of counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// Failed passwords for one account (or one unknown login name).
    LoginAccount,
    /// Failed passwords from one client address.
    LoginIp,
    /// Wrong second-factor codes (TOTP or recovery) for one account (SECURITY MF-03).
    SecondFactorAccount,
    /// Activation and reset mails for one account.
    MailAccount,
    /// Activation and reset requests from one client address.
    MailIp,
}

impl Counter {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginAccount => "login_account",
            Self::LoginIp => "login_ip",
            Self::SecondFactorAccount => "second_factor_account",
            Self::MailAccount => "mail_account",
            Self::MailIp => "mail_ip",
        }
    }

    /// How many events one window allows, and how long a window lasts.
    ///
    /// Accounts lock after 5 failed passwords in 15 minutes; an address may fail 30 times
    /// (an office behind one NAT address has several advisors). Ten wrong second-factor codes
    /// in 15 minutes lock the second step of an account: one partial sign-in is discarded
    /// after five (MF-03), so this stops an attacker who knows the password from starting
    /// over and over. Three security mails an
    /// hour per account and twenty requests an hour per address (ML-03).
    pub fn limit(self) -> Limit {
        match self {
            Self::LoginAccount => Limit {
                max: 5,
                window: Duration::minutes(15),
            },
            Self::LoginIp => Limit {
                max: 30,
                window: Duration::minutes(15),
            },
            Self::SecondFactorAccount => Limit {
                max: 10,
                window: Duration::minutes(15),
            },
            Self::MailAccount => Limit {
                max: 3,
                window: Duration::hours(1),
            },
            Self::MailIp => Limit {
                max: 20,
                window: Duration::hours(1),
            },
        }
    }
}

/// How many events a window allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Events allowed within one window.
    pub max: i64,
    /// Length of a window.
    pub window: Duration,
}

/// A stored counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    /// Events so far in this window.
    pub hits: i64,
    /// When the window began.
    pub window_start: OffsetDateTime,
}

/// What a counter says about the next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allowed,
    /// Refused until the window ends, in whole minutes (at least 1).
    Blocked {
        /// Minutes until the window ends, rounded up.
        retry_after_minutes: i64,
    },
}

impl Limit {
    /// Whether an attempt may go ahead, given the counter as stored (`None`: no events).
    pub fn decide(&self, count: Option<Count>, now: OffsetDateTime) -> Decision {
        let Some(c) = count else {
            return Decision::Allowed;
        };
        let ends = c.window_start + self.window;
        if ends <= now || c.hits < self.max {
            return Decision::Allowed;
        }
        let seconds = (ends - now).whole_seconds();
        Decision::Blocked {
            retry_after_minutes: ((seconds + 59) / 60).max(1),
        }
    }

    /// The earliest window start that still counts at `now`: older counters are over.
    pub fn current_since(&self, now: OffsetDateTime) -> OffsetDateTime {
        now - self.window
    }
}

/// The stricter of two decisions: blocked wins, and the longer wait wins.
pub fn stricter(a: Decision, b: Decision) -> Decision {
    match (a, b) {
        (Decision::Allowed, d) | (d, Decision::Allowed) => d,
        (
            Decision::Blocked {
                retry_after_minutes: x,
            },
            Decision::Blocked {
                retry_after_minutes: y,
            },
        ) => Decision::Blocked {
            retry_after_minutes: x.max(y),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-03-01 10:00 UTC);

    fn count(hits: i64, minutes_ago: i64) -> Option<Count> {
        Some(Count {
            hits,
            window_start: NOW - Duration::minutes(minutes_ago),
        })
    }

    #[test]
    fn an_account_locks_at_its_limit_for_the_rest_of_the_window() {
        let l = Counter::LoginAccount.limit();
        assert_eq!(l.decide(None, NOW), Decision::Allowed);
        assert_eq!(l.decide(count(4, 1), NOW), Decision::Allowed);
        assert_eq!(
            l.decide(count(5, 1), NOW),
            Decision::Blocked {
                retry_after_minutes: 14
            }
        );
        assert_eq!(
            l.decide(count(9, 0), NOW),
            Decision::Blocked {
                retry_after_minutes: 15
            }
        );
        // Partial minutes round up; the last seconds still say one minute.
        let late = Some(Count {
            hits: 5,
            window_start: NOW - Duration::minutes(15) + Duration::seconds(10),
        });
        assert_eq!(
            l.decide(late, NOW),
            Decision::Blocked {
                retry_after_minutes: 1
            }
        );
    }

    #[test]
    fn wrong_second_factor_codes_lock_the_second_step_after_ten() {
        // MF-03: a partial sign-in is discarded after five (login::second_factor); starting
        // over with the password gives at most one more batch before this lock.
        let l = Counter::SecondFactorAccount.limit();
        assert_eq!(l.window, Duration::minutes(15));
        assert_eq!(l.decide(count(9, 3), NOW), Decision::Allowed);
        assert_eq!(
            l.decide(count(10, 3), NOW),
            Decision::Blocked {
                retry_after_minutes: 12
            }
        );
        assert_eq!(l.decide(count(10, 15), NOW), Decision::Allowed);
        assert_ne!(
            Counter::SecondFactorAccount.as_str(),
            Counter::LoginAccount.as_str(),
            "its own counter: a locked second step does not lock the password"
        );
    }

    #[test]
    fn a_window_that_is_over_counts_for_nothing() {
        let l = Counter::LoginAccount.limit();
        assert_eq!(l.decide(count(50, 15), NOW), Decision::Allowed);
        assert_eq!(l.decide(count(50, 60), NOW), Decision::Allowed);
        assert_eq!(l.current_since(NOW), NOW - Duration::minutes(15));
    }

    #[test]
    fn addresses_and_mails_have_their_own_limits() {
        assert_eq!(Counter::LoginIp.limit().max, 30);
        assert_eq!(Counter::MailAccount.limit().max, 3);
        assert_eq!(Counter::MailAccount.limit().window, Duration::hours(1));
        let ip = Counter::LoginIp.limit();
        assert_eq!(ip.decide(count(29, 5), NOW), Decision::Allowed);
        assert!(matches!(
            ip.decide(count(30, 5), NOW),
            Decision::Blocked { .. }
        ));
    }

    #[test]
    fn the_stricter_decision_wins() {
        let b = |m| Decision::Blocked {
            retry_after_minutes: m,
        };
        assert_eq!(
            stricter(Decision::Allowed, Decision::Allowed),
            Decision::Allowed
        );
        assert_eq!(stricter(Decision::Allowed, b(3)), b(3));
        assert_eq!(stricter(b(3), Decision::Allowed), b(3));
        assert_eq!(stricter(b(3), b(7)), b(7));
    }
}
