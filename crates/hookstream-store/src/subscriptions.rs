//! The webhooks of each category, kept in memory between changes of the view.
//!
//! Every change record is matched against its category's webhooks; reading them from sled
//! each time costs a scan and a decode per webhook. The cache holds the last read of each
//! category and is dropped whole whenever an event is folded. A read that raced with a fold
//! is returned to its caller but not kept (the generation tells), so the cache never holds a
//! view older than the last fold.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use hookstream_model::Category;

use crate::Webhook;

/// The webhooks of one category, shared by everyone who matched against them.
pub type Subscribers = Arc<[Arc<Webhook>]>;

#[derive(Default)]
struct State {
    /// Bumped by every fold.
    generation: u64,
    by_category: HashMap<Category, Subscribers>,
}

/// The cache. Shared by the clones of a store.
#[derive(Default)]
pub(crate) struct Cache {
    state: RwLock<State>,
}

impl Cache {
    /// The cached webhooks of `category`, or the generation to [`Cache::keep`] a read with.
    pub fn get(&self, category: Category) -> Result<Subscribers, u64> {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        match state.by_category.get(&category) {
            Some(list) => Ok(list.clone()),
            None => Err(state.generation),
        }
    }

    /// Keeps a read made at `generation`, unless a fold happened since.
    pub fn keep(&self, category: Category, generation: u64, list: Subscribers) {
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        if state.generation == generation {
            state.by_category.insert(category, list);
        }
    }

    /// Forgets everything: the view changed.
    pub fn invalidate(&self) {
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        state.generation += 1;
        state.by_category.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(ids: &[i64]) -> Subscribers {
        ids.iter()
            .map(|&id| {
                Arc::new(Webhook {
                    id,
                    account: "a".into(),
                    url: "http://127.0.0.1:1/".into(),
                    category: 1,
                    secret: "s".into(),
                    first_failed_at: None,
                    last_failed_at: None,
                })
            })
            .collect()
    }

    #[test]
    fn a_read_that_raced_with_a_fold_is_not_kept() {
        let cache = Cache::default();
        let generation = cache.get(Category::Game).expect_err("empty");
        cache.invalidate(); // a fold between the read's start and its end
        cache.keep(Category::Game, generation, list(&[1]));
        let generation = cache.get(Category::Game).expect_err("stale read dropped");
        cache.keep(Category::Game, generation, list(&[1, 2]));
        let kept = cache.get(Category::Game).expect("kept");
        assert_eq!(kept.iter().map(|w| w.id).collect::<Vec<_>>(), [1, 2]);
        cache.invalidate();
        assert!(
            cache.get(Category::Game).is_err(),
            "a fold drops everything"
        );
    }
}
