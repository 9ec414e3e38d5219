//! The Redshift adapter's configuration: where the warehouse is, the role
//! COPY reads with, and how statements are timed.

use std::time::Duration;

use crate::names::{ClusterId, Database, DbUser, RoleArn, Workgroup};

/// Where the warehouse is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A Redshift Serverless workgroup, by name or ARN. The database user is
    /// derived from the caller's IAM identity.
    Workgroup(Workgroup),
    /// A provisioned cluster, with temporary credentials of a database user
    /// (`redshift:GetClusterCredentials`).
    Cluster {
        cluster_id: ClusterId,
        db_user: DbUser,
    },
}

/// How often a running statement is looked at: first after `initial`, then
/// twice as long each time, never more than `max` apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollBackoff {
    pub initial: Duration,
    pub max: Duration,
}

impl PollBackoff {
    pub const DEFAULT: PollBackoff = PollBackoff {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(2),
    };

    /// The waits between two looks, in order (endless).
    pub fn delays(self) -> impl Iterator<Item = Duration> {
        let max = self.max;
        std::iter::successors(Some(self.initial.min(max)), move |d| {
            Some(d.saturating_mul(2).min(max))
        })
    }
}

impl Default for PollBackoff {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The warehouse adapter's configuration. Its names are typed (valid by
/// construction); [`RedshiftConfig::validate`] checks the durations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedshiftConfig {
    pub target: Target,
    pub database: Database,
    /// The IAM role `COPY` reads the data root with; it must be associated
    /// with the workgroup's namespace or the cluster.
    pub copy_role_arn: RoleArn,
    /// How long one statement may run before it is cancelled; less than the
    /// Lambda function's own time-out.
    pub statement_timeout: Duration,
    pub poll: PollBackoff,
    /// How long a transaction's session stays open after its last statement
    /// (`SessionKeepAliveSeconds`): longer than any pause between two
    /// statements of a task.
    pub session_keep_alive: Duration,
}

/// A configuration value that AWS would refuse, or that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Redshift configuration `{field}`: {reason}")]
pub struct ConfigError {
    pub field: &'static str,
    pub reason: String,
}

impl RedshiftConfig {
    pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(300);
    /// A task's statements follow each other within seconds; a short
    /// keep-alive lets a finished task's session close soon (a workgroup
    /// holds at most 500).
    pub const DEFAULT_SESSION_KEEP_ALIVE: Duration = Duration::from_secs(60);
    /// A Lambda function runs at most 15 minutes.
    pub const MAX_STATEMENT_TIMEOUT: Duration = Duration::from_secs(900);
    /// The Data API keeps a session at most 24 hours.
    pub const MAX_SESSION_KEEP_ALIVE: Duration = Duration::from_secs(86_400);

    /// A configuration with the default time-out, polling and keep-alive.
    pub fn new(target: Target, database: Database, copy_role_arn: RoleArn) -> Self {
        Self {
            target,
            database,
            copy_role_arn,
            statement_timeout: Self::DEFAULT_STATEMENT_TIMEOUT,
            poll: PollBackoff::DEFAULT,
            session_keep_alive: Self::DEFAULT_SESSION_KEEP_ALIVE,
        }
    }

    /// Check the durations against what Lambda and the Data API allow.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field: &'static str, reason: &str| {
            Err(ConfigError {
                field,
                reason: reason.to_owned(),
            })
        };
        if self.statement_timeout < Duration::from_secs(1)
            || self.statement_timeout > Self::MAX_STATEMENT_TIMEOUT
        {
            return bad("statement_timeout", "must be 1 s to 900 s");
        }
        if self.poll.initial < Duration::from_millis(1) || self.poll.max < self.poll.initial {
            return bad("poll", "initial must be at least 1 ms and at most max");
        }
        if self.poll.max > Duration::from_secs(60) || self.poll.max > self.statement_timeout {
            return bad(
                "poll",
                "max must be at most 60 s and the statement time-out",
            );
        }
        if self.session_keep_alive < Duration::from_secs(1)
            || self.session_keep_alive > Self::MAX_SESSION_KEEP_ALIVE
        {
            return bad("session_keep_alive", "must be 1 s to 24 h");
        }
        Ok(())
    }
}
