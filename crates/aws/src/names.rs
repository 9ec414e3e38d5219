//! The AWS names a deployment configures, each a type that only a valid
//! value can become: parsed once (from the functions' environment, or by the
//! test harness), then passed on typed to the adapters, which trust them.
//! The rules are the ones the AWS APIs document for each name; the data
//! root's prefix, a path rather than a name, is `crate::s3::DataRoot`'s.

use std::fmt;
use std::str::FromStr;

/// A name AWS would refuse, and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct NameError {
    /// The rule the value breaks, as a sentence's end ("must be …").
    pub reason: &'static str,
}

pub(crate) fn all_bytes(s: &str, ok: impl Fn(u8) -> bool) -> bool {
    s.bytes().all(ok)
}

fn lower_digit_dash(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $rule:expr, $valid:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// What a valid value looks like.
            pub const RULE: &'static str = concat!("must be ", $rule);

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                let valid: fn(&str) -> bool = $valid;
                if valid(s) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(NameError { reason: Self::RULE })
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

name_type!(
    /// A Redshift Serverless workgroup, by name (3–64 of `a-z 0-9 -`) or ARN.
    Workgroup,
    "3 to 64 of a-z 0-9 -, or a redshift-serverless workgroup ARN",
    is_workgroup
);

name_type!(
    /// A provisioned cluster's identifier: 1–63 of `a-z 0-9 -`, a letter
    /// first, no `--`, no trailing `-`.
    ClusterId,
    "1 to 63 of a-z 0-9 -, beginning with a letter, without -- or a trailing -",
    |s| {
        (1..=63).contains(&s.len())
            && s.as_bytes()[0].is_ascii_lowercase()
            && all_bytes(s, lower_digit_dash)
            && !s.contains("--")
            && !s.ends_with('-')
    }
);

name_type!(
    /// A database user of a provisioned cluster.
    DbUser,
    "1 to 128 of letters, digits and _ . @ $ + -, beginning with a letter or _",
    |s| {
        (1..=128).contains(&s.len())
            && (s.as_bytes()[0].is_ascii_alphabetic() || s.as_bytes()[0] == b'_')
            && all_bytes(s, |b| {
                b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'@' | b'$' | b'+' | b'-')
            })
    }
);

name_type!(
    /// A Redshift database.
    Database,
    "1 to 127 of a-z 0-9 _ $, beginning with a letter or _",
    |s| {
        (1..=127).contains(&s.len())
            && (s.as_bytes()[0].is_ascii_lowercase() || s.as_bytes()[0] == b'_')
            && all_bytes(s, |b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'$'
            })
    }
);

name_type!(
    /// An IAM role: `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`.
    RoleArn,
    "an IAM role ARN, arn:aws:iam::123456789012:role/NAME",
    is_role_arn
);

/// A general purpose S3 bucket, by S3's naming rules.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bucket(String);

impl Bucket {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Bucket {
    type Err = NameError;
    fn from_str(bucket: &str) -> Result<Self, NameError> {
        let bad = |reason| Err(NameError { reason });
        if bucket.is_empty() {
            return bad("is missing");
        }
        if !(3..=63).contains(&bucket.len()) {
            return bad("must be 3 to 63 characters long");
        }
        if !all_bytes(bucket, |b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
        }) {
            return bad("may hold only lowercase letters, digits, `.` and `-`");
        }
        let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        let bytes = bucket.as_bytes();
        if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
            return bad("must begin and end with a letter or digit");
        }
        if bucket.contains("..") {
            return bad("must not hold two adjacent periods");
        }
        if bucket.parse::<std::net::Ipv4Addr>().is_ok() {
            return bad("must not be an IP address");
        }
        const RESERVED_PREFIXES: [&str; 3] = ["xn--", "sthree-", "amzn-s3-demo-"];
        const RESERVED_SUFFIXES: [&str; 5] =
            ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
        if RESERVED_PREFIXES.iter().any(|p| bucket.starts_with(p))
            || RESERVED_SUFFIXES.iter().any(|s| bucket.ends_with(s))
        {
            return bad("uses a prefix or suffix S3 reserves");
        }
        Ok(Self(bucket.to_owned()))
    }
}

impl fmt::Display for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_workgroup(s: &str) -> bool {
    if let Some(rest) = s.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        return matches!(
            parts.as_slice(),
            [partition, "redshift-serverless", region, account, resource]
                if partition.starts_with("aws")
                    && !region.is_empty()
                    && all_bytes(region, lower_digit_dash)
                    && account.len() == 12
                    && all_bytes(account, |b| b.is_ascii_digit())
                    && resource.strip_prefix("workgroup/").is_some_and(|id| {
                        (1..=64).contains(&id.len()) && all_bytes(id, lower_digit_dash)
                    })
        );
    }
    (3..=64).contains(&s.len()) && all_bytes(s, lower_digit_dash)
}

fn is_role_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts.as_slice() else {
        return false;
    };
    let role = resource.strip_prefix("role/").unwrap_or("");
    *arn == "arn"
        && matches!(*partition, "aws" | "aws-cn" | "aws-us-gov")
        && *service == "iam"
        && region.is_empty()
        && account.len() == 12
        && all_bytes(account, |b| b.is_ascii_digit())
        && (1..=512).contains(&role.len())
        && !role.ends_with('/')
        && all_bytes(role, |b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'+' | b'=' | b',' | b'.' | b'@' | b'_' | b'-' | b'/')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok<T: FromStr>(s: &str) -> bool {
        s.parse::<T>().is_ok()
    }

    #[test]
    fn each_name_accepts_what_aws_accepts_and_nothing_else() {
        let workgroups = [
            ("ovom", true),
            ("ovom-prod-2", true),
            ("ab", false),
            ("Ovom", false),
            ("ovom_prod", false),
            (
                "arn:aws:redshift-serverless:eu-west-1:123456789012:workgroup/0a1b-2c",
                true,
            ),
            (
                "arn:aws:redshift-serverless:eu-west-1:1234:workgroup/x",
                false,
            ),
            ("arn:aws:redshift:eu-west-1:123456789012:workgroup/x", false),
        ];
        for (s, want) in workgroups {
            assert_eq!(ok::<Workgroup>(s), want, "workgroup {s:?}");
        }
        for (s, want) in [
            ("ovom-1", true),
            ("1ovom", false),
            ("ov--om", false),
            ("ovom-", false),
        ] {
            assert_eq!(ok::<ClusterId>(s), want, "cluster {s:?}");
        }
        for (s, want) in [
            ("loader", true),
            ("_etl.user@x", true),
            ("9user", false),
            ("a b", false),
        ] {
            assert_eq!(ok::<DbUser>(s), want, "user {s:?}");
        }
        for (s, want) in [
            ("dev", true),
            ("_ovom$1", true),
            ("Dev", false),
            ("", false),
            ("d-b", false),
        ] {
            assert_eq!(ok::<Database>(s), want, "database {s:?}");
        }
        let roles = [
            ("arn:aws:iam::123456789012:role/ovom-copy", true),
            ("arn:aws:iam::123456789012:role/service/ovom", true),
            ("arn:aws:iam::123456789012:role/", false),
            ("arn:aws:iam::123456789012:user/ovom", false),
            ("arn:aws:iam:eu-west-1:123456789012:role/ovom", false),
            ("arn:aws:iam::12345:role/ovom", false),
        ];
        for (s, want) in roles {
            assert_eq!(ok::<RoleArn>(s), want, "role {s:?}");
        }
        assert_eq!(
            "Dev".parse::<Database>().unwrap_err().to_string(),
            Database::RULE
        );
        let buckets = [
            ("ovom-data", None),
            ("ovom.data-1", None),
            ("", Some("is missing")),
            ("ab", Some("must be 3 to 63 characters long")),
            (
                "Ovom",
                Some("may hold only lowercase letters, digits, `.` and `-`"),
            ),
            ("-ovom", Some("must begin and end with a letter or digit")),
            ("ovom..data", Some("must not hold two adjacent periods")),
            ("192.168.1.1", Some("must not be an IP address")),
            ("xn--ovom", Some("uses a prefix or suffix S3 reserves")),
            ("ovom-s3alias", Some("uses a prefix or suffix S3 reserves")),
        ];
        for (s, want) in buckets {
            assert_eq!(
                s.parse::<Bucket>().err().map(|e| e.reason),
                want,
                "bucket {s:?}"
            );
        }
    }
}
