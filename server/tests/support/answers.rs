//! Exam answers as the question form sends them, for tests that need a right
//! (or a deliberately wrong) answer to a drawn question.

use app::exam::draw::Layout;
use app::exam::model::{Kind, NumericMatch, Question};

/// One form field of an answer: `answer[i]` = `v`.
pub fn field(i: usize, v: impl ToString) -> (String, String) {
    (format!("answer[{i}]"), v.to_string())
}

/// The form fields of a fully right answer, in display terms.
pub fn right_fields(q: &Question, l: &Layout) -> Vec<(String, String)> {
    let display_of = |orig: usize| l.order.iter().position(|o| *o == orig).expect("shown");
    match &q.kind {
        Kind::SingleChoice { options } => {
            let right = options
                .iter()
                .position(|o| o.weight >= 100.0)
                .expect("right");
            vec![field(0, display_of(right))]
        }
        Kind::MultipleResponse { options } => (0..options.len())
            .filter(|i| options[*i].weight > 0.0)
            .map(|i| {
                let d = display_of(i);
                field(d, d)
            })
            .collect(),
        Kind::TrueFalse { answer, .. } => vec![field(0, answer)],
        Kind::Numeric { answers } => vec![field(
            0,
            match answers[0].matcher {
                NumericMatch::Absolute { value, .. } | NumericMatch::Relative { value, .. } => {
                    value
                }
                NumericMatch::Range { min, .. } => min,
            },
        )],
        Kind::ShortAnswer { answers } => vec![field(
            0,
            &answers
                .iter()
                .find(|a| a.weight >= 100.0 && !a.text.contains('*'))
                .expect("plain")
                .text,
        )],
        // Display item d gets the rank of its authored position.
        Kind::Ordering { .. } => l
            .order
            .iter()
            .enumerate()
            .map(|(d, orig)| field(d, orig + 1))
            .collect(),
        Kind::Matching { pairs } => {
            let rights = app::exam::grade::match_rights(pairs);
            l.order
                .iter()
                .enumerate()
                .map(|(d, left)| {
                    let r = rights
                        .iter()
                        .position(|r| *r == pairs[*left].right)
                        .expect("r");
                    field(
                        d,
                        l.right_order.iter().position(|x| *x == r).expect("shown"),
                    )
                })
                .collect()
        }
    }
}
