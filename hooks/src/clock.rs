//! The wall clock, behind a trait so tests can fix "now".

use std::time::{Duration, SystemTime};

/// Tells the current wall-clock time. Lambda deadlines are wall-clock instants.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> SystemTime;

    /// How long until `deadline`; zero when it has passed.
    fn until(&self, deadline: SystemTime) -> Duration {
        deadline
            .duration_since(self.now())
            .unwrap_or(Duration::ZERO)
    }
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}
