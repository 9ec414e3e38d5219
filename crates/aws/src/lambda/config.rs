//! A function's configuration: read once at cold start from the environment
//! the deployment template sets; a missing or invalid variable is named.
//! Each name is parsed into its type of [`crate::names`] here, once.

use std::collections::BTreeMap;
use std::str::FromStr;

use ovom_core::TaskError;

use crate::names::{ClusterId, Database, DbUser, NameError, RoleArn};
use crate::redshift::{RedshiftConfig, Target};
use crate::s3::DataRoot;

/// The environment variables a function reads.
pub mod vars {
    /// `s3://BUCKET/PREFIX`: the data root holding `patient_data/` and `log_data/`.
    pub const DATA_ROOT: &str = "DATA_ROOT";
    /// A Redshift Serverless workgroup's name (or [`REDSHIFT_CLUSTER_ID`]).
    pub const REDSHIFT_WORKGROUP: &str = "REDSHIFT_WORKGROUP";
    /// A provisioned cluster's identifier, with [`REDSHIFT_DB_USER`].
    pub const REDSHIFT_CLUSTER_ID: &str = "REDSHIFT_CLUSTER_ID";
    /// The database user on a provisioned cluster (temporary credentials).
    pub const REDSHIFT_DB_USER: &str = "REDSHIFT_DB_USER";
    /// The database.
    pub const REDSHIFT_DATABASE: &str = "REDSHIFT_DATABASE";
    /// The IAM role `COPY` reads the data root with (associated with the
    /// warehouse).
    pub const COPY_ROLE_ARN: &str = "COPY_ROLE_ARN";
    /// Optional: an IAM role the function assumes for the Data API, so that
    /// every function is the same database user (IAM authentication maps a
    /// role to a user of its own; the tables and views the tasks create are
    /// owned by that user).
    pub const WAREHOUSE_ROLE_ARN: &str = "WAREHOUSE_ROLE_ARN";
    /// Optional: the Secrets Manager secret (its ARN or name) holding the
    /// erasure key, which keys the erased patients' suppression list. The
    /// stage and erase functions read it once at cold start; without it, a
    /// warehouse with erased patients refuses to stage.
    pub const ERASURE_KEY_ID: &str = "ERASURE_KEY_ID";

    /// Every variable, in the order they are documented.
    pub const ALL: [&str; 8] = [
        DATA_ROOT,
        REDSHIFT_WORKGROUP,
        REDSHIFT_CLUSTER_ID,
        REDSHIFT_DB_USER,
        REDSHIFT_DATABASE,
        COPY_ROLE_ARN,
        WAREHOUSE_ROLE_ARN,
        ERASURE_KEY_ID,
    ];

    /// Prefixes owned by this configuration: a variable that starts with one
    /// and is not in [`ALL`] is an error (a misspelt optional variable would
    /// otherwise be ignored).
    pub const OWNED_PREFIXES: [&str; 3] = ["REDSHIFT_", "WAREHOUSE_", "ERASURE_"];
}

/// A function's configuration, read once at cold start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaConfig {
    pub data_root: DataRoot,
    pub target: Target,
    pub database: Database,
    pub copy_role_arn: RoleArn,
    pub warehouse_role_arn: Option<RoleArn>,
    /// The erasure key's secret, as given (an ARN or a name).
    pub erasure_key_id: Option<String>,
}

/// A configuration problem, naming the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
    #[error("environment variable {0} is not one this function reads (known: {known})", known = vars::ALL.join(", "))]
    Unknown(String),
    #[error("invalid configuration: {0}")]
    Conflict(String),
}

impl LambdaConfig {
    /// The configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    /// The configuration from `(name, value)` pairs; other variables than
    /// the configuration's own are ignored, except under its prefixes.
    pub fn from_vars<K, V>(env: impl IntoIterator<Item = (K, V)>) -> Result<Self, ConfigError>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let mut found: BTreeMap<&'static str, String> = BTreeMap::new();
        let mut unknown = Vec::new();
        for (k, v) in env {
            let (k, v) = (k.into(), v.into());
            if let Some(known) = vars::ALL.iter().find(|n| **n == k) {
                found.insert(known, v);
            } else if vars::OWNED_PREFIXES.iter().any(|p| k.starts_with(p)) {
                unknown.push(k);
            }
        }
        if let Some(first) = unknown.into_iter().min() {
            return Err(ConfigError::Unknown(first));
        }
        let mut take = |var: &'static str| -> Result<Option<String>, ConfigError> {
            match found.remove(var) {
                None => Ok(None),
                Some(v) if v.trim().is_empty() => Err(ConfigError::Invalid {
                    var,
                    reason: "is empty".into(),
                }),
                Some(v) if v.trim() != v || v.chars().any(char::is_control) => {
                    Err(ConfigError::Invalid {
                        var,
                        reason: "has surrounding blanks or control characters".into(),
                    })
                }
                Some(v) => Ok(Some(v)),
            }
        };
        let data_root = take(vars::DATA_ROOT)?.ok_or(ConfigError::Missing(vars::DATA_ROOT))?;
        let workgroup = take(vars::REDSHIFT_WORKGROUP)?;
        let cluster_id = take(vars::REDSHIFT_CLUSTER_ID)?;
        let db_user = take(vars::REDSHIFT_DB_USER)?;
        let database =
            take(vars::REDSHIFT_DATABASE)?.ok_or(ConfigError::Missing(vars::REDSHIFT_DATABASE))?;
        let copy_role_arn =
            take(vars::COPY_ROLE_ARN)?.ok_or(ConfigError::Missing(vars::COPY_ROLE_ARN))?;
        let warehouse_role_arn = take(vars::WAREHOUSE_ROLE_ARN)?;
        let erasure_key_id = take(vars::ERASURE_KEY_ID)?;

        let data_root = DataRoot::parse(&data_root).map_err(|e| ConfigError::Invalid {
            var: vars::DATA_ROOT,
            reason: match e {
                TaskError::InvalidParameters { reason, .. } => reason,
                other => other.to_string(),
            },
        })?;
        let target = match (workgroup, cluster_id, db_user) {
            (Some(w), None, None) => Target::Workgroup(parse(vars::REDSHIFT_WORKGROUP, &w)?),
            (None, Some(c), Some(u)) => Target::Cluster {
                cluster_id: parse::<ClusterId>(vars::REDSHIFT_CLUSTER_ID, &c)?,
                db_user: parse::<DbUser>(vars::REDSHIFT_DB_USER, &u)?,
            },
            (None, Some(_), None) => return Err(ConfigError::Missing(vars::REDSHIFT_DB_USER)),
            (Some(_), None, Some(_)) => {
                return Err(ConfigError::Conflict(format!(
                    "{} applies to a cluster ({}), not to a workgroup: a workgroup's user is the function's IAM role",
                    vars::REDSHIFT_DB_USER,
                    vars::REDSHIFT_CLUSTER_ID
                )))
            }
            (Some(_), Some(_), _) => {
                return Err(ConfigError::Conflict(format!(
                    "set one of {} and {}, not both",
                    vars::REDSHIFT_WORKGROUP,
                    vars::REDSHIFT_CLUSTER_ID
                )))
            }
            (None, None, _) => {
                return Err(ConfigError::Conflict(format!(
                    "set {} (Redshift Serverless) or {} with {} (a provisioned cluster)",
                    vars::REDSHIFT_WORKGROUP,
                    vars::REDSHIFT_CLUSTER_ID,
                    vars::REDSHIFT_DB_USER
                )))
            }
        };
        Ok(Self {
            data_root,
            target,
            database: parse(vars::REDSHIFT_DATABASE, &database)?,
            copy_role_arn: parse(vars::COPY_ROLE_ARN, &copy_role_arn)?,
            warehouse_role_arn: warehouse_role_arn
                .map(|arn| parse(vars::WAREHOUSE_ROLE_ARN, &arn))
                .transpose()?,
            erasure_key_id,
        })
    }

    /// The warehouse adapter's configuration.
    pub fn redshift(&self) -> RedshiftConfig {
        RedshiftConfig::new(
            self.target.clone(),
            self.database.clone(),
            self.copy_role_arn.clone(),
        )
    }
}

/// A variable's value as its name type, or the error naming the variable.
fn parse<T: FromStr<Err = NameError>>(var: &'static str, value: &str) -> Result<T, ConfigError> {
    value.parse().map_err(|e: NameError| ConfigError::Invalid {
        var,
        reason: e.to_string(),
    })
}
