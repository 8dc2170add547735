//! Key custody: a store remembers which master key sealed its values, so a missing or
//! different key stops the service at start instead of failing reads later and splitting
//! the store across two keys.
//!
//! The record is a check value sealed under the master key (`meta/key_check`): a fixed text
//! wrapped by the provider like any data key. Only the same key unwraps it; it tells nothing
//! about the key.

use crate::{KeyProvider, Mutation, Store, StoreError, Table};

const KEY_CHECK: &str = "key_check";
const CHECK_TEXT: &[u8] = b"s9-secrets master key check v1";
const CHECK_AAD: &[u8] = b"s9-secrets:key-check";

/// What the key check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyCheck {
    /// The store's check value opens under this key.
    Matches,
    /// The store had no check value (a new store, or one written before checks existed):
    /// this key's is recorded now.
    Recorded,
}

/// Why the key check failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CustodyError {
    /// The store's check value does not open under this key.
    #[error("this is not the master key the store's values were sealed with")]
    WrongKey,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the master key cannot seal the check value: {0}")]
    Seal(#[from] crate::CryptoError),
}

impl Store {
    /// Whether the store holds anything sealed under a master key (a value, or a key check):
    /// then no new key may be created beside it.
    pub fn holds_sealed_values(&self) -> Result<bool, StoreError> {
        Ok(self.get(Table::Meta, KEY_CHECK)?.is_some() || self.has_rows(Table::Versions)?)
    }

    /// Checks `provider` against the key that sealed this store's values, recording its
    /// check value when the store has none.
    pub async fn check_master_key(
        &self,
        provider: &dyn KeyProvider,
    ) -> Result<KeyCheck, CustodyError> {
        match self.get(Table::Meta, KEY_CHECK)? {
            Some(wrapped) => match provider.unwrap(&wrapped, CHECK_AAD) {
                Ok(text) if text.as_slice() == CHECK_TEXT => Ok(KeyCheck::Matches),
                _ => Err(CustodyError::WrongKey),
            },
            None => {
                let wrapped = provider.wrap(CHECK_TEXT, CHECK_AAD)?;
                self.commit(vec![Mutation::Put {
                    table: Table::Meta,
                    key: KEY_CHECK.to_owned(),
                    value: wrapped,
                }])
                .await?;
                Ok(KeyCheck::Recorded)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FileKeyProvider;

    #[tokio::test]
    async fn a_store_knows_its_key_and_refuses_another() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(&dir.path().join("db.redb")).expect("open");
        assert!(!store.holds_sealed_values().expect("empty"));
        let key = FileKeyProvider::open_or_create(&dir.path().join("a.key")).expect("key");
        let other = FileKeyProvider::open_or_create(&dir.path().join("b.key")).expect("key");
        assert_eq!(
            store.check_master_key(&key).await.expect("record"),
            KeyCheck::Recorded
        );
        assert!(store.holds_sealed_values().expect("check recorded"));
        assert_eq!(
            store.check_master_key(&key).await.expect("same"),
            KeyCheck::Matches
        );
        assert!(matches!(
            store.check_master_key(&other).await,
            Err(CustodyError::WrongKey)
        ));
    }
}
