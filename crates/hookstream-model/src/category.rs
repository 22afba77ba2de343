//! The IGDB webhook categories.

use std::fmt;
use std::str::FromStr;

macro_rules! categories {
    ($($variant:ident = $key:literal, $name:literal, $slug:literal;)*) => {
        /// One of the 23 entity categories a webhook can listen to, with its IGDB key.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Category {
            $(#[doc = $name] $variant = $key,)*
        }

        impl Category {
            /// Every category, in key order.
            pub const ALL: [Category; 23] = [$(Category::$variant,)*];

            /// The category with this IGDB key.
            pub fn from_key(key: i64) -> Result<Category, UnknownCategory> {
                match key {
                    $($key => Ok(Category::$variant),)*
                    _ => Err(UnknownCategory(key.to_string())),
                }
            }

            /// The human name, as IGDB's documentation writes it.
            pub fn name(self) -> &'static str {
                match self { $(Category::$variant => $name,)* }
            }

            /// The slug used in topic names (`igdb.<slug>`) and headers.
            pub fn slug(self) -> &'static str {
                match self { $(Category::$variant => $slug,)* }
            }
        }
    };
}

categories! {
    Game = 1, "Game", "game";
    Person = 2, "Person", "person";
    Character = 3, "Character", "character";
    Collection = 4, "Collection", "collection";
    Company = 5, "Company", "company";
    Franchise = 6, "Franchise", "franchise";
    GameEngine = 7, "Game Engine", "game_engine";
    GameMode = 8, "Game Mode", "game_mode";
    Genre = 9, "Genre", "genre";
    Keyword = 10, "Keyword", "keyword";
    Platform = 11, "Platform", "platform";
    PlayerPerspective = 12, "Player Perspective", "player_perspective";
    Pulse = 13, "Pulse", "pulse";
    PulseGroup = 14, "Pulse Group", "pulse_group";
    ReleaseDate = 15, "Release Date", "release_date";
    Review = 16, "Review", "review";
    ReviewVideo = 17, "Review Video", "review_video";
    Theme = 18, "Theme", "theme";
    Credit = 19, "Credit", "credit";
    Feed = 20, "Feed", "feed";
    GameVersion = 21, "Game Version", "game_version";
    Page = 22, "Page", "page";
    Title = 23, "Title", "title";
}

impl Category {
    /// The IGDB key (1..=23).
    pub fn key(self) -> i32 {
        self as i32
    }

    /// The category whose slug is `slug`.
    pub fn from_slug(slug: &str) -> Result<Category, UnknownCategory> {
        Category::ALL
            .into_iter()
            .find(|c| c.slug() == slug)
            .ok_or_else(|| UnknownCategory(slug.to_owned()))
    }

    /// The topic that carries this category's changes, under `prefix` (e.g. `igdb.`).
    pub fn topic(self, prefix: &str) -> String {
        format!("{prefix}{}", self.slug())
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}

/// Parses a key (`"1"`) or a slug (`"game"`).
impl FromStr for Category {
    type Err = UnknownCategory;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.parse::<i64>() {
            Ok(key) => Category::from_key(key),
            Err(_) => Category::from_slug(s),
        }
    }
}

/// A category key or slug that is not one of the 23.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown category {0:?}: expected a key from 1 to 23 or a slug such as \"game\"")]
pub struct UnknownCategory(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_one_to_twenty_three_in_order() {
        let keys: Vec<i32> = Category::ALL.iter().map(|c| c.key()).collect();
        assert_eq!(keys, (1..=23).collect::<Vec<_>>());
    }

    #[test]
    fn key_slug_and_text_round_trip() {
        for c in Category::ALL {
            assert_eq!(Category::from_key(c.key().into()), Ok(c));
            assert_eq!(Category::from_slug(c.slug()), Ok(c));
            assert_eq!(c.key().to_string().parse::<Category>(), Ok(c));
            assert_eq!(c.slug().parse::<Category>(), Ok(c));
        }
    }

    #[test]
    fn slugs_are_unique_topic_safe() {
        let mut slugs: Vec<&str> = Category::ALL.iter().map(|c| c.slug()).collect();
        assert!(slugs
            .iter()
            .all(|s| s.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_')));
        slugs.sort();
        slugs.dedup();
        assert_eq!(slugs.len(), 23);
    }

    #[test]
    fn outside_the_table_is_unknown() {
        for bad in [0, 24, -1, 1000] {
            assert!(Category::from_key(bad).is_err(), "{bad}");
        }
        assert!("games".parse::<Category>().is_err());
        assert_eq!(Category::Game.topic("igdb."), "igdb.game");
        assert_eq!(Category::GameVersion.topic("igdb."), "igdb.game_version");
    }
}
