//! A small macro for enums stored as lowercase strings in documents, JSON and the CLI.

/// Declares an enum whose variants are stored as fixed strings.
///
/// The enum gets `Display`, `FromStr` (error names the accepted values), serde, and
/// autosurgeon `Reconcile`/`Hydrate` impls, so the document holds the same string a person
/// types on the command line.
#[macro_export]
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $( $(#[$vmeta])* $variant ),+ }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The string stored for this variant.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::UnknownValue {
                        value: s.to_string(),
                        expected: &[$($text),+],
                    }),
                }
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(::serde::de::Error::custom)
            }
        }

        impl ::autosurgeon::Reconcile for $name {
            type Key<'a> = ::autosurgeon::reconcile::NoKey;
            fn reconcile<R: ::autosurgeon::Reconciler>(&self, mut r: R) -> Result<(), R::Error> {
                r.str(self.as_str())
            }
        }

        impl ::autosurgeon::Hydrate for $name {
            fn hydrate_string(s: &'_ str) -> Result<Self, ::autosurgeon::HydrateError> {
                s.parse().map_err(|e: $crate::UnknownValue| {
                    ::autosurgeon::HydrateError::unexpected(stringify!($name), e.to_string())
                })
            }
        }
    };
}

/// A string that is not one of an enum's accepted values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value {value:?}, expected one of: {}", expected.join(", "))]
pub struct UnknownValue {
    /// What was given.
    pub value: String,
    /// What would have been accepted.
    pub expected: &'static [&'static str],
}
