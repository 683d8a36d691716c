//! Unit tests: GIFT reading and writing, every question type's grading, the draw.

use super::draw::{self, Blueprint, Layout, Rng};
use super::gift;
use super::grade::{grade, normalize, parse_number, view};
use super::model::{Kind, NumericMatch, Question};
use super::{Answer, ShowAnswers};

fn one(src: &str) -> Question {
    let qs = gift::parse(src, "cat").unwrap_or_else(|e| panic!("{src}: {e:?}"));
    assert_eq!(qs.len(), 1, "{qs:?}");
    qs.into_iter().next().expect("one")
}

fn identity(q: &Question) -> Layout {
    let n = q.kind.option_count();
    Layout {
        order: match &q.kind {
            Kind::Matching { pairs } => super::grade::match_lefts(pairs),
            _ => (0..n).collect(),
        },
        right_order: match &q.kind {
            Kind::Matching { pairs } => (0..super::grade::match_rights(pairs).len()).collect(),
            _ => vec![],
        },
    }
}

fn score(q: &Question, a: Answer) -> f64 {
    grade(q, &identity(q), Some(&a)).fraction
}

fn round_trip(qs: &[Question]) {
    let text = gift::write(qs).expect("writable");
    let back = gift::parse(&text, "Default").unwrap_or_else(|e| panic!("{text}\n{e:?}"));
    assert_eq!(back, qs, "round trip through:\n{text}");
}

#[test]
fn single_choice_with_feedback_title_and_partial_credit() {
    let q = one("// a comment\n::P99::[markdown]Which \\{percentile\\} is the tail? {\n  =p99 #Right: the tail.\n  ~p50 #That is the median.\n  ~%50%p95\n  ####Tails hide in high percentiles.\n}");
    assert_eq!(q.name, "P99");
    assert!(q.explicit_name);
    assert_eq!(q.format.as_deref(), Some("markdown"));
    assert_eq!(q.text, "Which {percentile} is the tail?");
    assert_eq!(
        q.general_feedback.as_deref(),
        Some("Tails hide in high percentiles.")
    );
    let Kind::SingleChoice { options } = &q.kind else {
        panic!("{q:?}")
    };
    assert_eq!(options[0].feedback.as_deref(), Some("Right: the tail."));
    assert_eq!(options[2].weight, 50.0);
    assert_eq!(score(&q, Answer::Choice(0)), 1.0);
    assert_eq!(score(&q, Answer::Choice(1)), 0.0);
    assert_eq!(score(&q, Answer::Choice(2)), 0.5);
    assert_eq!(grade(&q, &identity(&q), None).fraction, 0.0);
    let g = grade(&q, &identity(&q), Some(&Answer::Choice(1)));
    assert_eq!(g.feedback, vec!["That is the median.".to_string()]);
    assert_eq!(g.correct_answer, "p99");
    round_trip(&[q]);
}

#[test]
fn multiple_response_weights_are_floored_at_zero() {
    let q = one("::MR:: Pick the SLIs {~%50%availability ~%50%latency ~%-100%CPU usage #Not user-facing. ~%-50%heap size}");
    assert!(matches!(q.kind, Kind::MultipleResponse { .. }));
    assert_eq!(score(&q, Answer::Choices(vec![0, 1])), 1.0);
    assert_eq!(score(&q, Answer::Choices(vec![0])), 0.5);
    assert_eq!(score(&q, Answer::Choices(vec![0, 1, 3])), 0.5);
    assert_eq!(
        score(&q, Answer::Choices(vec![0, 2])),
        0.0,
        "floored, not negative"
    );
    assert_eq!(score(&q, Answer::Choices(vec![0, 1, 2, 3])), 0.0);
    assert_eq!(score(&q, Answer::Choices(vec![])), 0.0);
    assert_eq!(
        score(&q, Answer::Choices(vec![0, 0, 0])),
        0.5,
        "a repeated option counts once"
    );
    round_trip(&[q]);
}

#[test]
fn multiple_response_weights_must_reach_100() {
    let e = gift::parse("::MR:: x {~%50%a ~%20%b ~c}", "c").expect_err("bad weights");
    assert_eq!(e[0].line, 1);
    assert!(e[0].message.contains("add up to 100%"), "{e:?}");
}

#[test]
fn true_false_with_both_feedbacks() {
    let q = one("::TF:: An error budget is 1 − SLO. {T#No: it is what the SLO allows to fail.#Yes.####Budget = 1 − target.}");
    let Kind::TrueFalse {
        answer,
        feedback_wrong,
        feedback_right,
    } = &q.kind
    else {
        panic!()
    };
    assert!(*answer);
    assert_eq!(
        feedback_wrong.as_deref(),
        Some("No: it is what the SLO allows to fail.")
    );
    assert_eq!(feedback_right.as_deref(), Some("Yes."));
    assert_eq!(score(&q, Answer::Bool(true)), 1.0);
    assert_eq!(score(&q, Answer::Bool(false)), 0.0);
    assert_eq!(
        grade(&q, &identity(&q), Some(&Answer::Bool(false))).feedback,
        vec![feedback_wrong.clone().expect("fb")]
    );
    for src in ["x {TRUE}", "x {F}", "x {FALSE}", "x {T##right only}"] {
        round_trip(&[one(src)]);
    }
}

#[test]
fn numeric_tolerance_range_and_partial_answers() {
    let q = one("::N:: 99.9% over 30 days allows how many minutes? {#43.2:0.1}");
    assert_eq!(score(&q, Answer::Number("43.2".into())), 1.0);
    assert_eq!(
        score(&q, Answer::Number("43.3".into())),
        1.0,
        "the tolerance is inclusive"
    );
    assert_eq!(
        score(&q, Answer::Number("43,25".into())),
        1.0,
        "a decimal comma"
    );
    assert_eq!(score(&q, Answer::Number("43.31".into())), 0.0);
    assert_eq!(score(&q, Answer::Number("forty".into())), 0.0);
    let r = one("::R:: between {#1..5}");
    assert_eq!(score(&r, Answer::Number("1".into())), 1.0);
    assert_eq!(score(&r, Answer::Number("5".into())), 1.0);
    assert_eq!(score(&r, Answer::Number("5.01".into())), 0.0);
    let m = one("::M:: rps? {#\n =1000:0 #exact\n =%50%1000:100 #close\n}");
    assert_eq!(score(&m, Answer::Number("1000".into())), 1.0);
    assert_eq!(score(&m, Answer::Number("1050".into())), 0.5);
    assert_eq!(
        grade(&m, &identity(&m), Some(&Answer::Number("1050".into()))).feedback,
        vec!["close".to_string()]
    );
    let rel = one("// @tolerance: relative\n::Rel:: about {#200:0.05}");
    let Kind::Numeric { answers } = &rel.kind else {
        panic!()
    };
    assert_eq!(
        answers[0].matcher,
        NumericMatch::Relative {
            value: 200.0,
            fraction: 0.05
        }
    );
    assert_eq!(score(&rel, Answer::Number("210".into())), 1.0);
    assert_eq!(score(&rel, Answer::Number("189".into())), 0.0);
    let neg = one("::Neg:: How cold? {#-5..-1}");
    assert_eq!(score(&neg, Answer::Number("-3".into())), 1.0);
    round_trip(&[q, r, m, rel, neg]);
    assert_eq!(parse_number(" 1 000 "), Some(1000.0));
}

#[test]
fn short_answer_normalization_and_wildcards() {
    let q = one("::S:: Which k6 option sets the number of virtual users? {=vus =%50%virtual users #Use the option's name. =*--vus*}");
    assert_eq!(score(&q, Answer::Text("  VUs ".into())), 1.0);
    assert_eq!(score(&q, Answer::Text("virtual   Users".into())), 0.5);
    assert_eq!(
        score(&q, Answer::Text("k6 run --vus 10".into())),
        1.0,
        "the * pattern"
    );
    assert_eq!(score(&q, Answer::Text("duration".into())), 0.0);
    assert_eq!(score(&q, Answer::Text("".into())), 0.0);
    assert_eq!(normalize("  A\tB  c "), "a b c");
    round_trip(&[q]);
}

#[test]
fn ordering_scores_each_right_neighbour() {
    let q = one("// @type: ordering\n::O:: Order a test {\n=1 -> ramp up\n=2 -> steady state\n=3 -> ramp down\n=4 -> report\n}");
    let Kind::Ordering { items } = &q.kind else {
        panic!("{q:?}")
    };
    assert_eq!(items.len(), 4);
    assert_eq!(score(&q, Answer::Order(vec![0, 1, 2, 3])), 1.0);
    assert!((score(&q, Answer::Order(vec![1, 2, 3, 0])) - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(score(&q, Answer::Order(vec![3, 2, 1, 0])), 0.0);
    assert_eq!(
        score(&q, Answer::Order(vec![0, 0, 1, 2])),
        0.0,
        "not a permutation"
    );
    // A shuffled layout maps display positions back.
    let l = Layout {
        order: vec![2, 0, 3, 1],
        right_order: vec![],
    };
    assert_eq!(
        grade(&q, &l, Some(&Answer::Order(vec![1, 3, 0, 2]))).fraction,
        1.0
    );
    round_trip(&[q]);
    let e =
        gift::parse("// @type: ordering\n::O:: x {=1 -> a =3 -> b}", "c").expect_err("misnumbered");
    assert!(e[0].message.contains("numbered"), "{e:?}");
}

#[test]
fn matching_with_distractor_and_partial_credit() {
    let q = one("::Match:: Match the metric type {\n=Counter -> only goes up\n=Gauge -> goes up and down\n=Histogram -> buckets of observations\n= -> a log line\n}");
    let Kind::Matching { pairs } = &q.kind else {
        panic!()
    };
    assert_eq!(pairs.len(), 4);
    assert_eq!(score(&q, Answer::Match(vec![0, 1, 2])), 1.0);
    assert!((score(&q, Answer::Match(vec![0, 2, 1])) - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(score(&q, Answer::Match(vec![3, 3, 3])), 0.0);
    assert!((score(&q, Answer::Match(vec![0, -1, -1])) - 1.0 / 3.0).abs() < 1e-9);
    let v = view(&q, &identity(&q));
    let super::ViewKind::Matching { lefts, rights } = v.kind else {
        panic!()
    };
    assert_eq!(lefts, vec!["Counter", "Gauge", "Histogram"]);
    assert_eq!(rights.len(), 4);
    round_trip(&[q]);
}

#[test]
fn escapes_fixed_order_missing_word_and_categories_round_trip() {
    let src = "$CATEGORY: $course$/top/PromQL\n\n// @options: fixed\n::Esc\\: colon:: Rate of a counter \\= per-second \\~ \\#1 \\\\ done\\nnext line {\n=rate() ~irate() ~delta()}\n\nThe {=p99 =99th percentile} latency is the tail.\n\n$CATEGORY: k6\n\n::A->B:: arrows -\\> stay {~a -\\> b ~%100%c}\n";
    let qs = gift::parse(src, "Default").expect("parses");
    assert_eq!(qs.len(), 3);
    assert_eq!(qs[0].category, "PromQL");
    assert_eq!(qs[0].name, "Esc: colon");
    assert_eq!(
        qs[0].text,
        "Rate of a counter = per-second ~ #1 \\ done\nnext line"
    );
    assert!(qs[0].fixed_order);
    assert_eq!(qs[1].text, "The");
    assert_eq!(qs[1].text_after, "latency is the tail.");
    assert!(!qs[1].explicit_name);
    assert_eq!(qs[2].category, "k6");
    assert_eq!(qs[2].text, "arrows -> stay");
    let Kind::MultipleResponse { options } = &qs[2].kind else {
        panic!("{:?}", qs[2])
    };
    assert_eq!(options[0].text, "a -> b");
    round_trip(&qs);
}

#[test]
fn broken_files_report_every_line_and_import_nothing() {
    let src = "::ok:: fine {T}\n\n::no brace:: text without answers\n\n::open:: {=a ~b\n\n::essay:: Write an essay {}\n\n::dup:: a {T}\n\n::dup:: b {F}\n\n// @nonsense\n::x:: y {T}\n\n::w:: {~%abc%a =b}\n\n::n:: {#abc}\n";
    let errs = gift::parse(src, "c").expect_err("broken");
    let lines: Vec<usize> = errs.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![3, 5, 7, 11, 13, 16, 18], "{errs:#?}");
    assert!(errs[0].message.contains("no answer block"));
    assert!(errs[1].message.contains("never closed"));
    assert!(errs[2].message.contains("essay"));
    assert!(errs[3].message.contains("already exists"));
    assert!(errs[4].message.contains("unknown directive"));
    assert!(errs[5].message.contains("weight"));
    assert!(errs[6].message.contains("not a number"));
}

#[test]
fn a_question_names_the_module_that_teaches_it() {
    let src =
        "// @module: thresholds-are-slos\n// @options: fixed\n::m:: x {=a ~b}\n\n::plain:: y {T}\n";
    let qs = gift::parse(src, "c").expect("parses");
    assert_eq!(qs[0].module.as_deref(), Some("thresholds-are-slos"));
    assert!(qs[0].fixed_order);
    assert_eq!(qs[1].module, None, "a directive belongs to one question");
    round_trip(&qs);
    // A question without one is stored as before (its hash does not change).
    let json = serde_json::to_string(&qs[1]).expect("json");
    assert!(!json.contains("module"), "{json}");
    for (bad, says) in [
        ("// @module: Not A Slug\n::q:: x {T}", "module slug"),
        ("// @module:\n::q:: x {T}", "module slug"),
        ("// @module: a\n// @module: b\n::q:: x {T}", "once"),
        ("// @module: a\n\n::q:: x {T}", "right before a question"),
    ] {
        let e = gift::parse(bad, "c").expect_err(bad);
        assert!(e[0].message.contains(says), "{bad}: {e:?}");
    }
}

#[test]
fn the_error_line_is_where_the_block_is() {
    let e = gift::parse("\n\n::t::\nSome text\nover lines\n{=a ~b ~%120%c}", "c").expect_err("bad");
    assert_eq!(e[0].line, 6, "{e:?}");
}

#[test]
fn views_reveal_no_weights_or_answers() {
    let q = one("::V:: x {=right answer #fb ~wrong ####general}");
    let json = serde_json::to_string(&view(&q, &identity(&q))).expect("json");
    assert!(
        !json.contains("100") && !json.contains("fb") && !json.contains("general"),
        "{json}"
    );
    let s = one("::S:: x {=secret answer}");
    let json = serde_json::to_string(&view(&s, &identity(&s))).expect("json");
    assert!(!json.contains("secret"), "{json}");
}

#[test]
fn the_draw_is_reproducible_from_its_seed() {
    let bank: Vec<(i64, Question)> = (0..10)
        .map(|i| {
            let cat = if i % 2 == 0 { "a" } else { "b" };
            let mut q = one(&format!("::q{i}:: x {{=r ~w1 ~w2 ~w3}}"));
            q.category = cat.into();
            (i, q)
        })
        .collect();
    let bp = Blueprint::parse("time_limit_minutes: 30\npass_mark_percent: 70\ndraw:\n  - {category: a, count: 3}\n  - {category: b, count: 2}\n").expect("bp");
    let one = super::attempts::draw_items(&bp, &bank, 42).expect("draw");
    let two = super::attempts::draw_items(&bp, &bank, 42).expect("draw");
    assert_eq!(one, two);
    assert_eq!(one.len(), 5);
    assert_eq!(one.iter().filter(|i| i.1 == "a").count(), 3);
    let other = super::attempts::draw_items(&bp, &bank, 43).expect("draw");
    assert_ne!(one, other);
    // SplitMix64's first output for seed 0 is fixed forever.
    assert_eq!(Rng::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    let mut fixed = one_fixed();
    let l = draw::layout(&fixed, &mut Rng::new(7));
    assert_eq!(l.order, vec![0, 1, 2, 3]);
    fixed.fixed_order = false;
    let shuffled =
        (0..20).any(|s| draw::layout(&fixed, &mut Rng::new(s)).order != vec![0, 1, 2, 3]);
    assert!(shuffled);
}

fn one_fixed() -> Question {
    one("// @options: fixed\n::f:: x {=a ~b ~c ~d}")
}

#[test]
fn blueprint_rules_are_checked() {
    assert!(Blueprint::parse(
        "time_limit_minutes: 0\npass_mark_percent: 70\ndraw: [{category: a, count: 1}]"
    )
    .is_err());
    assert!(Blueprint::parse("time_limit_minutes: 10\npass_mark_percent: 70\ndraw: []").is_err());
    assert!(Blueprint::parse(
        "time_limit_minutes: 10\npass_mark_percent: 70\nbogus: 1\ndraw: [{category: a, count: 1}]"
    )
    .is_err());
    let b = Blueprint::parse("time_limit_minutes: 10\npass_mark_percent: 70\nopens_at: 2025-01-02T03:04:05Z\ndraw: [{category: a, count: 1}]").expect("ok");
    assert_eq!(b.window().expect("window").0, Some(1_735_787_045_000));
    assert_eq!(b.time_limit_ms(), 600_000);
    let short = "time_limit_seconds: 8\npass_mark_percent: 70\ndraw: [{category: a, count: 1}]";
    assert_eq!(
        Blueprint::parse(short).expect("seconds").time_limit_ms(),
        8_000
    );
    assert!(Blueprint::parse(&format!("time_limit_minutes: 1\n{short}")).is_err());
    assert!(Blueprint::parse(&short.replace(": 8", ": 1")).is_err());
    assert!(Blueprint::parse("pass_mark_percent: 70\ndraw: [{category: a, count: 1}]").is_err());
    assert_eq!(draw::parse_utc("1970-01-01"), Ok(0));
    // Certificates expire only if the blueprint says so, after 1 to 120 months.
    assert_eq!(
        Blueprint::parse(short)
            .expect("ok")
            .certificate_valid_months,
        None
    );
    let months = |m: &str| Blueprint::parse(&format!("{short}\ncertificate_valid_months: {m}"));
    assert_eq!(months("12").expect("12").certificate_valid_months, Some(12));
    assert_eq!(
        months("120").expect("120").certificate_valid_months,
        Some(120)
    );
    for bad in ["0", "121", "-1", "1.5", "a year"] {
        assert!(months(bad).is_err(), "{bad}");
    }
    // A blueprint stored before the field existed reads back, and one without it stays without.
    let json = serde_json::to_string(&Blueprint::parse(short).expect("ok")).expect("json");
    assert!(!json.contains("certificate_valid_months"), "{json}");
}

#[test]
fn the_seed_bank_parses_round_trips_and_fits_the_blueprint() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../content/performance-engineering-masterclass/exam");
    let (qs, bp) = super::store::read_folder(&dir).unwrap_or_else(|p| {
        panic!(
            "{}",
            p.iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    assert!(qs.len() >= 40, "{} questions", qs.len());
    let bp = bp.expect("blueprint.yaml");
    super::store::check_draw(&bp, &qs).expect("draw fits");
    let mut cats: Vec<&str> = qs.iter().map(|q| q.category.as_str()).collect();
    cats.sort_unstable();
    cats.dedup();
    assert_eq!(cats.len(), 5, "{cats:?}");
    let kinds: std::collections::BTreeSet<&str> = qs.iter().map(|q| q.kind.label()).collect();
    assert_eq!(kinds.len(), 7, "every type is used: {kinds:?}");
    round_trip(&qs);
    // Every question can be answered fully right, which catches answer keys that cannot score.
    for q in &qs {
        let l = identity(q);
        let best = match &q.kind {
            Kind::SingleChoice { options } => Answer::Choice(
                options
                    .iter()
                    .position(|o| o.weight >= 100.0)
                    .expect("right") as i32,
            ),
            Kind::MultipleResponse { options } => Answer::Choices(
                (0..options.len() as i32)
                    .filter(|i| options[*i as usize].weight > 0.0)
                    .collect(),
            ),
            Kind::TrueFalse { answer, .. } => Answer::Bool(*answer),
            Kind::Numeric { answers } => Answer::Number(match answers[0].matcher {
                NumericMatch::Absolute { value, .. } | NumericMatch::Relative { value, .. } => {
                    value.to_string()
                }
                NumericMatch::Range { min, .. } => min.to_string(),
            }),
            Kind::ShortAnswer { answers } => Answer::Text(
                answers
                    .iter()
                    .find(|a| a.weight >= 100.0 && !a.text.contains('*'))
                    .expect("plain right answer")
                    .text
                    .clone(),
            ),
            Kind::Ordering { items } => Answer::Order((0..items.len() as i32).collect()),
            Kind::Matching { pairs } => Answer::Match(
                (0..super::grade::match_lefts(pairs).len() as i32)
                    .map(|i| {
                        let rights = super::grade::match_rights(pairs);
                        rights
                            .iter()
                            .position(|r| {
                                *r == pairs[super::grade::match_lefts(pairs)[i as usize]].right
                            })
                            .expect("r") as i32
                    })
                    .collect(),
            ),
        };
        assert_eq!(grade(q, &l, Some(&best)).fraction, 1.0, "{}", q.key());
    }
}

#[test]
fn the_blueprint_settings_shuffle_or_keep_the_order() {
    let bank: Vec<(i64, Question)> = (0..6)
        .map(|i| {
            let mut q = one(&format!("::q{i}:: x {{=a ~b ~c ~d}}"));
            q.category = if i < 3 { "a".into() } else { "b".into() };
            (i, q)
        })
        .collect();
    let mut bp = Blueprint::parse(
        "time_limit_minutes: 30\npass_mark_percent: 70\nshuffle_questions: false\nshuffle_options: false\ndraw:\n  - {category: a, count: 3}\n  - {category: b, count: 3}\n",
    )
    .expect("bp");
    for seed in 0..10 {
        let items = super::attempts::draw_items(&bp, &bank, seed).expect("draw");
        let cats: Vec<&str> = items.iter().map(|i| i.1.as_str()).collect();
        assert_eq!(
            cats,
            ["a", "a", "a", "b", "b", "b"],
            "categories stay in blueprint order"
        );
        assert!(items.iter().all(|i| i.2.order == vec![0, 1, 2, 3]));
    }
    bp.shuffle_options = true;
    assert!(
        (0..10).any(|seed| super::attempts::draw_items(&bp, &bank, seed)
            .expect("draw")
            .iter()
            .any(|i| i.2.order != vec![0, 1, 2, 3]))
    );
    // Blueprints stored before these settings existed read as shuffling.
    let old: Blueprint = serde_json::from_str(
        r#"{"time_limit_minutes":30,"pass_mark_percent":70.0,"attempts_allowed":1,"cooldown_minutes":0,"opens_at":null,"closes_at":null,"show_answers":true,"eligibility":{"modules_completed":[],"labs_passed":[]},"draw":[{"category":"a","count":1}]}"#,
    )
    .expect("old json");
    assert!(old.shuffle_questions && old.shuffle_options);
    // Its `show_answers: true` (answers after every attempt) reads as the safe default.
    assert_eq!(old.show_answers, ShowAnswers::AfterLastAttempt);
    assert!(Blueprint::parse("time_limit_minutes: 10\npass_mark_percent: 70\nopens_at: 2025-02-01\ncloses_at: 2025-01-01\ndraw: [{category: a, count: 1}]").is_err());
    assert!(Blueprint::parse("time_limit_minutes: 10\npass_mark_percent: 70\ndraw: [{category: a, count: 1}, {category: a, count: 1}]").is_err());
}

#[test]
fn admin_inputs_are_parsed_into_rules() {
    use super::admin::ops::parse_blueprint;
    use super::admin::{correlation, BlueprintInput, ExtraMinutes, VoidReason};
    use std::collections::BTreeMap;

    assert_eq!(ExtraMinutes::parse(" 15 ").map(ExtraMinutes::get), Ok(15));
    for bad in ["0", "601", "-1", "1.5", "", "ten"] {
        assert!(ExtraMinutes::parse(bad).is_err(), "{bad}");
    }
    assert!(VoidReason::parse("  ab ").is_err());
    assert!(VoidReason::parse(&"x".repeat(501)).is_err());
    assert_eq!(
        VoidReason::parse("  cheating  ").map(|r| r.as_str().to_string()),
        Ok("cheating".to_string())
    );

    // Pearson's r: perfect, inverse, none when a series is constant, and a hand-computed case.
    assert!((correlation(&[0.0, 1.0, 2.0], &[1.0, 3.0, 5.0]).expect("r") - 1.0).abs() < 1e-12);
    assert!((correlation(&[0.0, 1.0], &[1.0, 0.0]).expect("r") + 1.0).abs() < 1e-12);
    assert_eq!(correlation(&[1.0, 1.0, 1.0], &[0.0, 1.0, 2.0]), None);
    let r = correlation(&[1.0, 1.0, 1.0, 0.0, 0.0], &[1.0, 0.5, 0.0, 0.5, 0.0]).expect("r");
    assert!((r - 0.30 / (1.2f64 * 0.70).sqrt()).abs() < 1e-12);

    let old = Blueprint::parse("time_limit_minutes: 10\npass_mark_percent: 70\neligibility: {labs_passed: [first lab]}\ndraw: [{category: a, count: 1}]").expect("bp");
    let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let input = BlueprintInput {
        time_limit: "20".into(),
        time_unit: "seconds".into(),
        pass_mark_percent: "55.5".into(),
        attempts_allowed: "2".into(),
        cooldown_minutes: "5".into(),
        opens_at: " ".into(),
        closes_at: "2030-01-01".into(),
        show_answers: "never".into(),
        shuffle_questions: true,
        shuffle_options: false,
        category: map(&[("0", "a"), ("1", "b")]),
        count: map(&[("0", "2"), ("1", "")]),
        module: map(&[("0", "intro")]),
        certificate_valid_months: " 24 ".into(),
    };
    let avail = vec![("a".to_string(), 3), ("b".to_string(), 1)];
    let modules = vec!["intro".to_string()];
    let b = parse_blueprint(&input, &old, &avail, &modules).expect("valid");
    assert_eq!(b.time_limit_ms(), 20_000);
    assert_eq!(
        b.draw.len(),
        1,
        "an empty count draws nothing from that category"
    );
    assert_eq!(b.eligibility.labs_passed, vec!["first lab".to_string()]);
    assert_eq!(b.eligibility.modules_completed, vec!["intro".to_string()]);
    assert_eq!(b.opens_at, None);
    assert!(b.show_answers == ShowAnswers::Never && !b.shuffle_options);
    let unsaid = BlueprintInput {
        show_answers: " ".into(),
        ..input.clone()
    };
    let b = parse_blueprint(&unsaid, &old, &avail, &modules).expect("valid");
    assert_eq!(
        b.show_answers,
        ShowAnswers::AfterLastAttempt,
        "no policy: the safe default"
    );
    assert_eq!(b.certificate_valid_months, Some(24));
    let never = BlueprintInput {
        certificate_valid_months: " ".into(),
        ..input.clone()
    };
    let b = parse_blueprint(&never, &old, &avail, &modules).expect("valid");
    assert_eq!(b.certificate_valid_months, None, "empty: never expires");
    let bad = |f: &dyn Fn(&mut BlueprintInput)| {
        let mut i = input.clone();
        f(&mut i);
        parse_blueprint(&i, &old, &avail, &modules).expect_err("invalid")
    };
    assert!(bad(&|i| i.count = map(&[("0", "4")])).contains("the bank has 3"));
    assert!(bad(&|i| i.time_limit = "2".into()).starts_with("The time limit in seconds"));
    assert!(bad(&|i| i.module = map(&[("0", "nope")])).contains("no module"));
    assert!(bad(&|i| i.pass_mark_percent = "NaN".into()).contains("number from 0 to 100"));
    assert!(bad(&|i| i.certificate_valid_months = "0".into()).contains("from 1 to 120"));
    assert!(bad(&|i| i.certificate_valid_months = "twelve".into()).contains("whole number"));
    assert!(bad(&|i| i.show_answers = "always".into()).contains("after_last_attempt"));
    assert!(bad(&|i| i.show_answers = "on".into()).contains("after_pass"));
}

#[test]
fn the_answers_policy_reads_its_names_and_the_old_booleans() {
    let bp = |line: &str| {
        Blueprint::parse(&format!(
            "time_limit_minutes: 10\npass_mark_percent: 70\n{line}draw: [{{category: a, count: 1}}]"
        ))
    };
    assert_eq!(
        bp("").map(|b| b.show_answers),
        Ok(ShowAnswers::AfterLastAttempt),
        "absent: the safe default"
    );
    for p in ShowAnswers::ALL {
        let b = bp(&format!("show_answers: {}\n", p.as_str())).expect("parses");
        assert_eq!(b.show_answers, p);
        assert!(b
            .to_yaml("#")
            .contains(&format!("\nshow_answers: {}\n", p.as_str())));
        let json = serde_json::to_string(&b).expect("json");
        assert_eq!(
            serde_json::from_str::<Blueprint>(&json).expect("back"),
            b,
            "{json}"
        );
    }
    assert_eq!(
        bp("show_answers: true\n").map(|b| b.show_answers),
        Ok(ShowAnswers::AfterLastAttempt)
    );
    assert_eq!(
        bp("show_answers: false\n").map(|b| b.show_answers),
        Ok(ShowAnswers::Never)
    );
    let e = bp("show_answers: always\n").expect_err("not a policy");
    assert!(e.contains("after_last_attempt, after_pass or never"), "{e}");
    assert!(bp("show_answers: 3\n").is_err());
}

#[test]
fn a_blueprint_written_as_yaml_reads_back_equal() {
    use super::draw::{leading_comment, Draw, Eligibility, DEFAULT_COMMENT};
    // Everything the admin form can set, with names YAML would misread if written plainly.
    let full = Blueprint {
        time_limit_minutes: 45,
        time_limit_seconds: None,
        pass_mark_percent: 62.5,
        attempts_allowed: 2,
        cooldown_minutes: 90,
        opens_at: Some("2025-06-01".into()),
        closes_at: Some("2025-06-30T17:30:00Z".into()),
        show_answers: ShowAnswers::AfterPass,
        shuffle_questions: false,
        shuffle_options: true,
        eligibility: Eligibility {
            modules_completed: vec!["what-a-load-test-is-for".into(), "true".into()],
            labs_passed: vec!["Lab: the first one".into()],
        },
        certificate_valid_months: Some(18),
        draw: vec![
            Draw {
                category: "k6 and load testing".into(),
                count: 8,
            },
            Draw {
                category: "SLIs, SLOs and error budgets".into(),
                count: 3,
            },
            Draw {
                category: "Gates: \"pass\" or fail # really".into(),
                count: 1,
            },
            Draw {
                category: "null".into(),
                count: 1,
            },
            Draw {
                category: "- 100".into(),
                count: 1,
            },
            Draw {
                category: " padded ".into(),
                count: 1,
            },
            Draw {
                category: "line\nbreak\ttab ünïcode".into(),
                count: 1,
            },
        ],
    };
    let yaml = full.to_yaml(DEFAULT_COMMENT);
    assert!(
        yaml.starts_with(&format!("{DEFAULT_COMMENT}\ntime_limit_minutes: 45\n")),
        "{yaml}"
    );
    assert_eq!(Blueprint::parse(&yaml), Ok(full.clone()), "{yaml}");
    assert_eq!(leading_comment(&yaml).as_deref(), Some(DEFAULT_COMMENT));

    // Seconds instead of minutes, a whole pass mark, nothing optional: still equal,
    // and what is absent is left out of the file rather than written as null.
    let short = Blueprint {
        time_limit_minutes: 0,
        time_limit_seconds: Some(20),
        pass_mark_percent: 70.0,
        opens_at: None,
        closes_at: None,
        certificate_valid_months: None,
        show_answers: ShowAnswers::Never,
        shuffle_questions: true,
        eligibility: Eligibility::default(),
        draw: vec![Draw {
            category: "a".into(),
            count: 1,
        }],
        ..full.clone()
    };
    let yaml = short.to_yaml("# two\n# lines");
    assert!(
        yaml.starts_with("# two\n# lines\ntime_limit_seconds: 20\n"),
        "{yaml}"
    );
    for absent in [
        "time_limit_minutes",
        "opens_at",
        "closes_at",
        "certificate_valid_months",
        "null",
    ] {
        assert!(!yaml.contains(absent), "{absent} in {yaml}");
    }
    assert_eq!(Blueprint::parse(&yaml), Ok(short), "{yaml}");
    assert_eq!(leading_comment(&yaml).as_deref(), Some("# two\n# lines"));
    assert_eq!(leading_comment("time_limit_minutes: 1\n# late"), None);
}

#[test]
fn the_shipped_blueprint_survives_being_rewritten() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../content/performance-engineering-masterclass/exam/blueprint.yaml");
    let text = std::fs::read_to_string(&path).expect("the shipped blueprint");
    let shipped = Blueprint::parse(&text).expect("parses");
    let comment = draw::leading_comment(&text).expect("it starts with a comment");
    let written = shipped.to_yaml(&comment);
    assert_eq!(Blueprint::parse(&written), Ok(shipped));
    // The same fields in the same order, plus the shuffle settings it left to their defaults.
    let keys = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with([' ', '#']))
            .filter_map(|l| l.split(':').next().map(str::to_string))
            .collect()
    };
    let mut expected = keys(&text);
    let at = expected
        .iter()
        .position(|k| k == "show_answers")
        .expect("show_answers")
        + 1;
    expected.splice(
        at..at,
        [
            "shuffle_questions".to_string(),
            "shuffle_options".to_string(),
        ],
    );
    assert_eq!(keys(&written), expected, "{written}");
    assert!(written.starts_with(&comment));
}

#[test]
fn a_reorder_swaps_an_item_with_its_neighbour_and_stops_at_the_ends() {
    use super::attempts::apply_reorder;
    use std::collections::BTreeMap;
    let ranks = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    // Item 2 sits first, item 0 second, item 1 third.
    let mut r = ranks(&[("0", "2"), ("1", "3"), ("2", "1")]);
    assert_eq!(apply_reorder(&mut r, "1:up"), Some(1));
    assert_eq!(r, ranks(&[("0", "3"), ("1", "2"), ("2", "1")]));
    assert_eq!(apply_reorder(&mut r, "2:down"), Some(2));
    assert_eq!(r, ranks(&[("0", "3"), ("1", "1"), ("2", "2")]));
    // Past either end, an unknown item or direction, or nonsense: nothing moves.
    let before = r.clone();
    for bad in ["1:up", "0:down", "7:up", "0:left", "x:up", "", "0"] {
        assert_eq!(apply_reorder(&mut r, bad), None, "{bad}");
        assert_eq!(r, before, "{bad}");
    }
}
