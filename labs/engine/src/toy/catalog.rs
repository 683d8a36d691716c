//! The pizza catalog: the fixed data the QuickPizza-compatible API serves.

use serde::Serialize;

/// A pizza dough, as QuickPizza describes it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Dough {
    /// Stable id.
    pub id: i64,
    /// Display name.
    pub name: &'static str,
    /// Calories contributed per slice.
    pub calories_per_slice: i64,
}

/// An ingredient, as QuickPizza describes it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Ingredient {
    /// Stable id.
    pub id: i64,
    /// Display name.
    pub name: &'static str,
    /// Calories contributed per slice.
    pub calories_per_slice: i64,
    /// Whether a vegetarian may eat it.
    pub vegetarian: bool,
}

/// The ingredient families of `GET /api/ingredients/{type}`.
pub const INGREDIENT_TYPES: [&str; 4] = ["olive_oil", "tomato", "mozzarella", "topping"];

const fn ing(id: i64, name: &'static str, calories_per_slice: i64, vegetarian: bool) -> Ingredient {
    Ingredient {
        id,
        name,
        calories_per_slice,
        vegetarian,
    }
}

/// The doughs on offer.
pub fn doughs() -> Vec<Dough> {
    [
        (1, "Thin", 140),
        (2, "Classic", 190),
        (3, "Sourdough", 170),
        (4, "Whole Wheat", 160),
        (5, "Stuffed Crust", 260),
    ]
    .into_iter()
    .map(|(id, name, calories_per_slice)| Dough {
        id,
        name,
        calories_per_slice,
    })
    .collect()
}

/// The ingredients of one family, or `None` for an unknown family.
pub fn ingredients(kind: &str) -> Option<Vec<Ingredient>> {
    let list = match kind {
        "olive_oil" => vec![
            ing(1, "Extra Virgin Olive Oil", 45, true),
            ing(2, "Garlic Oil", 50, true),
            ing(3, "Chili Oil", 48, true),
        ],
        "tomato" => vec![
            ing(10, "San Marzano Tomatoes", 20, true),
            ing(11, "Cherry Tomatoes", 18, true),
            ing(12, "Roasted Tomato Sauce", 30, true),
        ],
        "mozzarella" => vec![
            ing(20, "Fior di Latte", 85, true),
            ing(21, "Buffalo Mozzarella", 95, true),
            ing(22, "Smoked Mozzarella", 90, true),
        ],
        "topping" => vec![
            ing(30, "Pepperoni", 70, false),
            ing(31, "Mushrooms", 10, true),
            ing(32, "Black Olives", 25, true),
            ing(33, "Prosciutto", 60, false),
            ing(34, "Anchovies", 35, false),
            ing(35, "Artichokes", 15, true),
            ing(36, "Basil", 2, true),
            ing(37, "Red Onion", 8, true),
            ing(38, "Spicy Salami", 75, false),
            ing(39, "Roasted Peppers", 12, true),
            ing(40, "Pineapple", 20, true),
            ing(41, "Gorgonzola", 80, true),
        ],
        _ => return None,
    };
    Some(list)
}

/// The tools a pizza may be cut or served with.
pub const TOOLS: [&str; 5] = ["Knife", "Pizza Cutter", "Scissors", "Rolling Pin", "Fork"];

/// Classic pizza names used to build a recommendation's name.
pub const NAMES: [&str; 10] = [
    "Margherita",
    "Marinara",
    "Capricciosa",
    "Diavola",
    "Quattro Formaggi",
    "Ortolana",
    "Boscaiola",
    "Romana",
    "Bufalina",
    "Calabrese",
];

/// Adjectives used to build a recommendation's name.
pub const ADJECTIVES: [&str; 10] = [
    "Cosmic", "Humble", "Electric", "Sleepy", "Golden", "Rustic", "Fearless", "Orbital",
    "Midnight", "Tiny",
];

/// Quotes served by `GET /api/quotes`.
pub const QUOTES: [&str; 5] = [
    "Measure twice, load test once.",
    "The p99 is where your users live.",
    "A pizza a day keeps the pager away.",
    "Latency is a distribution, not a number.",
    "Every slice of traffic tells a story.",
];
