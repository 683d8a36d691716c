//! Hands-on labs: lab definitions read from `content/<course>/labs/`, and the
//! grader that runs a learner's files through the lab engine and the SLO
//! toolkit and checks them against the lab's declared checks.
//!
//! A lab directory holds `lab.yaml` (metadata, the learner's files, the k6
//! runs and the steps with their checks), `instructions.md`,
//! `starter/<file>` and `solution/<file>` for every learner file, and
//! optionally `fixtures/*` (lab-provided scripts and SLI files) and
//! `scenarios/*.yaml` (toy-service scenarios of its own). [`load_lab`]
//! reads and validates it into a self-contained [`Lab`]; [`grade`] runs it.

pub mod answers;
mod charts;
mod checks;
pub mod data;
mod grade;
mod load;
mod locate;
pub mod model;
pub mod sandbox;
pub use lab_report as report;

pub use data::{query_chart, RunData};
pub use grade::{grade, GradeProgress, Outcome};
pub use load::{load_lab, LabProblem};
pub use model::{Check, CheckSpec, FileKind, Lab, LabFile, RunSpec, Step, TextFile};
pub use report::{
    Chart, CheckReport, K6CheckRow, LabReport, Line, Mark, Point, Reference, RunReport, StepReport,
    Table, ThresholdRow,
};
