//! The DVS128 Gesture data set (Amir et al., CVPR 2017) in its original
//! layout: AEDAT 3.1 recordings, one `<name>_labels.csv` beside each, and the
//! split lists `trials_to_train.txt` / `trials_to_test.txt`.
//!
//! ```text
//! root/
//!   trials_to_train.txt      user01_fluorescent.aedat
//!   trials_to_test.txt       ...
//!   user01_fluorescent.aedat
//!   user01_fluorescent_labels.csv   class,startTime_usec,endTime_usec
//! ```
//!
//! A labels file lists one gesture per line, classes 1-based (1..=11); the
//! loaders here return them 0-based, as the `.bs2` clips of the data kit and
//! the networks use. A gesture is the half-open window
//! `[startTime_usec, endTime_usec)` of the recording, times re-based to its
//! start; coordinates are the sensor's (128 × 128), as stored (no mirroring).

use std::path::{Path, PathBuf};

use slayer_core::Event2d;
use slayer_events::aedat::read_aedat31;

use crate::error::{Error, Result};

/// Sensor width and height of the DVS128.
pub const SENSOR_SIZE: usize = 128;

/// The 11 DVS Gesture classes, 0-based.
pub const CLASS_NAMES: [&str; 11] = [
    "hand_clapping",
    "right_hand_wave",
    "left_hand_wave",
    "right_arm_clockwise",
    "right_arm_counter_clockwise",
    "left_arm_clockwise",
    "left_arm_counter_clockwise",
    "arm_roll",
    "air_drums",
    "air_guitar",
    "other_gestures",
];

/// The header line of a labels file.
pub const LABELS_HEADER: &str = "class,startTime_usec,endTime_usec";

/// One labelled gesture of a recording: the half-open window
/// `[start_us, end_us)` and its class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelWindow {
    /// Class, 0-based (the file's 1-based class minus one).
    pub class: usize,
    /// First µs of the window (recording time).
    pub start_us: u64,
    /// End of the window (exclusive), µs.
    pub end_us: u64,
}

/// Which split list to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// `trials_to_train.txt`.
    Train,
    /// `trials_to_test.txt`.
    Test,
}

impl Split {
    /// The split list's file name.
    pub fn list_file(self) -> &'static str {
        match self {
            Split::Train => "trials_to_train.txt",
            Split::Test => "trials_to_test.txt",
        }
    }
}

/// Parses the text of a labels file. Errors carry the byte offset of the bad
/// line and a message naming its line number.
pub fn parse_labels_csv(text: &str) -> std::result::Result<Vec<LabelWindow>, (u64, String)> {
    let mut out = Vec::new();
    let mut offset = 0u64;
    let mut seen_header = false;
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let line_no = i + 1;
        let at = offset;
        offset += raw.len() as u64;
        let line = raw.trim_start_matches('\u{feff}').trim();
        if line.is_empty() {
            continue;
        }
        if !seen_header {
            if line.replace(' ', "") != LABELS_HEADER {
                return Err((
                    at,
                    format!(
                        "line {line_no}: expected the header {LABELS_HEADER:?}, found {line:?}"
                    ),
                ));
            }
            seen_header = true;
            continue;
        }
        let bad = |msg: String| (at, format!("line {line_no}: {msg} in {line:?}"));
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != 3 {
            return Err(bad(format!("{} fields, expected 3", fields.len())));
        }
        let num = |s: &str, what: &str| {
            s.parse::<u64>()
                .map_err(|_| bad(format!("{what} {s:?} is not a non-negative integer")))
        };
        let class = num(fields[0], "class")?;
        let start_us = num(fields[1], "startTime_usec")?;
        let end_us = num(fields[2], "endTime_usec")?;
        if class == 0 {
            return Err(bad("class 0 (classes are 1-based)".to_string()));
        }
        if end_us < start_us {
            return Err(bad(format!(
                "endTime_usec {end_us} before startTime_usec {start_us}"
            )));
        }
        out.push(LabelWindow {
            class: (class - 1) as usize,
            start_us,
            end_us,
        });
    }
    if !seen_header {
        return Err((0, format!("line 1: missing the header {LABELS_HEADER:?}")));
    }
    Ok(out)
}

/// Reads a DVS Gesture `_labels.csv` (header `class,startTime_usec,endTime_usec`,
/// 1-based classes); classes come back 0-based. A malformed line is an
/// [`Error::Format`] naming the file, the line's byte offset and its number.
pub fn read_labels_csv(path: &Path) -> Result<Vec<LabelWindow>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = std::str::from_utf8(&bytes).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        offset: e.valid_up_to() as u64,
        msg: "not UTF-8 text".to_string(),
    })?;
    parse_labels_csv(text).map_err(|(offset, msg)| Error::Format {
        path: path.to_path_buf(),
        offset,
        msg,
    })
}

/// Cuts one sample per window: the events with `start_us ≤ t < end_us`,
/// times re-based to the window start, in their original order, with the
/// window's class. Events need not be sorted (sorted input is cut by binary
/// search).
pub fn cut_windows(events: &[Event2d], windows: &[LabelWindow]) -> Vec<(Vec<Event2d>, usize)> {
    let sorted = events.windows(2).all(|w| w[0].t_us <= w[1].t_us);
    windows
        .iter()
        .map(|w| {
            let rebase = |e: &Event2d| Event2d {
                t_us: e.t_us - w.start_us,
                ..*e
            };
            let cut: Vec<Event2d> = if sorted {
                let lo = events.partition_point(|e| e.t_us < w.start_us);
                let hi = events.partition_point(|e| e.t_us < w.end_us).max(lo);
                events[lo..hi].iter().map(rebase).collect()
            } else {
                events
                    .iter()
                    .filter(|e| (w.start_us..w.end_us).contains(&e.t_us))
                    .map(rebase)
                    .collect()
            };
            (cut, w.class)
        })
        .collect()
}

/// The recordings of a split: the non-empty lines of
/// `root/trials_to_train.txt` (or `_test`), each an `.aedat` path relative
/// to `root`, in list order.
pub fn list_trials(root: &Path, split: Split) -> Result<Vec<PathBuf>> {
    let list = root.join(split.list_file());
    let text = std::fs::read_to_string(&list).map_err(|e| Error::io(&list, e))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| root.join(l))
        .collect())
}

/// The labels file of a recording: `<name>_labels.csv` beside `<name>.aedat`.
pub fn labels_path(aedat: &Path) -> PathBuf {
    let stem = aedat
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    aedat.with_file_name(format!("{stem}_labels.csv"))
}

/// Loads one recording and its labels: one `(events, class)` per gesture,
/// events re-based to the gesture start, classes 0-based.
pub fn load_trial(aedat: &Path) -> Result<Vec<(Vec<Event2d>, usize)>> {
    let windows = read_labels_csv(&labels_path(aedat))?;
    let events = read_aedat31(aedat)?;
    Ok(cut_windows(&events, &windows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::binning::{bin_2d, Binning};
    use crate::data::events::read_bs2;

    fn gesture_dir() -> PathBuf {
        let dir = std::env::var_os("SLAYER_DATA_DIR").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"),
            PathBuf::from,
        );
        assert!(
            dir.is_dir(),
            "data kit not found at {} (set SLAYER_DATA_DIR)",
            dir.display()
        );
        dir.join("dvs-gesture")
    }

    fn tmp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("slayer-dvsg-{}-{name}", std::process::id()))
    }

    /// `labels.txt` of the data kit: (sample number, 0-based class).
    fn bs2_labels() -> Vec<(usize, usize)> {
        let text = std::fs::read_to_string(gesture_dir().join("labels.txt")).expect("labels.txt");
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let mut f = l
                    .split_whitespace()
                    .map(|v| v.parse::<usize>().expect("number"));
                (f.next().expect("sample"), f.next().expect("class"))
            })
            .collect()
    }

    fn e(x: u16, y: u16, polarity: u8, t_us: u64) -> Event2d {
        Event2d {
            x,
            y,
            polarity,
            t_us,
        }
    }

    #[test]
    fn aedat31_windows_match_bs2_clips() {
        let concat = gesture_dir().join("aedat31/slayer10_concat.aedat");
        let windows = read_labels_csv(&labels_path(&concat)).expect("labels csv");
        assert_eq!(windows.len(), 10);
        assert_eq!(
            windows[0],
            LabelWindow {
                class: 0,
                start_us: 1_000_000,
                end_us: 2_449_997
            }
        );
        let samples = cut_windows(&read_aedat31(&concat).expect("aedat"), &windows);
        let labels = bs2_labels();
        assert_eq!(labels.len(), 10);
        let b = Binning {
            ts_ms: 1.0,
            bins: 1450,
        };
        for ((events, class), (n, bs2_class)) in samples.iter().zip(&labels) {
            let bs2 = read_bs2(&gesture_dir().join(format!("{n}.bs2"))).expect("bs2");
            assert_eq!(*class, *bs2_class, "clip {n}: class");
            assert_eq!(events.len(), bs2.len(), "clip {n}: event count");
            // Same events, same coordinates (no mirroring): only the order of
            // events sharing a timestamp may differ.
            let key = |e: &Event2d| (e.t_us, e.x, e.y, e.polarity);
            let (mut a, mut c) = (events.clone(), bs2.clone());
            a.sort_by_key(key);
            c.sort_by_key(key);
            assert_eq!(a, c, "clip {n}: events");
            let ra = bin_2d(events, SENSOR_SIZE, SENSOR_SIZE, 2, &b);
            let rb = bin_2d(&bs2, SENSOR_SIZE, SENSOR_SIZE, 2, &b);
            assert!(ra == rb, "clip {n}: rasters differ");
            assert!(ra.row(0).len() == 2 * 128 * 128);
        }
    }

    #[test]
    fn list_and_load_trials() {
        let root = tmp_path("root");
        std::fs::create_dir_all(root.join("sub")).expect("mkdir");
        let src = gesture_dir().join("aedat31");
        let aedat = root.join("sub/user01_lab.aedat");
        std::fs::remove_file(&aedat).ok();
        #[cfg(unix)]
        std::os::unix::fs::symlink(src.join("slayer10_concat.aedat"), &aedat).expect("symlink");
        #[cfg(not(unix))]
        std::fs::copy(src.join("slayer10_concat.aedat"), &aedat).expect("copy");
        std::fs::copy(
            src.join("slayer10_concat_labels.csv"),
            root.join("sub/user01_lab_labels.csv"),
        )
        .expect("copy");
        std::fs::write(
            root.join("trials_to_train.txt"),
            "sub/user01_lab.aedat\r\n\r\n",
        )
        .expect("write");
        std::fs::write(root.join("trials_to_test.txt"), "\n").expect("write");

        let train = list_trials(&root, Split::Train).expect("train list");
        assert_eq!(train, vec![aedat.clone()]);
        assert!(list_trials(&root, Split::Test)
            .expect("test list")
            .is_empty());
        assert_eq!(labels_path(&aedat), root.join("sub/user01_lab_labels.csv"));

        let samples = load_trial(&train[0]).expect("load");
        assert_eq!(samples.len(), 10);
        let classes: Vec<usize> = samples.iter().map(|s| s.1).collect();
        assert_eq!(classes, (0..10).collect::<Vec<_>>());
        for (events, _) in &samples {
            assert!(events
                .iter()
                .all(|e| e.t_us < 1_450_000 && e.x < 128 && e.y < 128));
        }
        let bs2 = read_bs2(&gesture_dir().join("1.bs2")).expect("bs2");
        assert_eq!(samples[0].0.len(), bs2.len());

        // A missing list or labels file is an I/O error naming it.
        std::fs::remove_file(root.join("trials_to_test.txt")).expect("rm");
        let missing = root.join("trials_to_test.txt");
        assert!(
            matches!(list_trials(&root, Split::Test), Err(Error::Io { path, .. }) if path == missing)
        );
        std::fs::remove_file(root.join("sub/user01_lab_labels.csv")).expect("rm");
        assert!(matches!(load_trial(&aedat), Err(Error::Io { .. })));
        std::fs::remove_dir_all(&root).ok();
    }

    #[test]
    fn malformed_labels_are_errors_naming_file_and_line() {
        let path = tmp_path("bad_labels.csv");
        let h = "class,startTime_usec,endTime_usec\n";
        let cases: Vec<(String, u64, &str)> = vec![
            (String::new(), 0, "line 1: missing the header"),
            ("1,2,3\n".to_string(), 0, "line 1: expected the header"),
            (format!("{h}1,2,3\n1,2\n"), 40, "line 3: 2 fields"),
            (format!("{h}1,2,3,4\n"), 34, "line 2: 4 fields"),
            (format!("{h}x,2,3\n"), 34, "line 2: class \"x\""),
            (format!("{h}1,-2,3\n"), 34, "line 2: startTime_usec \"-2\""),
            (format!("{h}1,2,3.5\n"), 34, "line 2: endTime_usec \"3.5\""),
            (format!("{h}\n0,2,3\n"), 35, "line 3: class 0"),
            (
                format!("{h}4,9,3\n"),
                34,
                "line 2: endTime_usec 3 before startTime_usec 9",
            ),
        ];
        for (text, offset, needle) in cases {
            std::fs::write(&path, &text).expect("write");
            match read_labels_csv(&path) {
                Err(Error::Format {
                    path: p,
                    offset: o,
                    msg,
                }) => {
                    assert_eq!(p, path);
                    assert_eq!(o, offset, "{msg}");
                    assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
                }
                other => panic!("{text:?}: expected a format error, got {other:?}"),
            }
        }
        std::fs::write(&path, [0xffu8, 0xfe]).expect("write");
        assert!(matches!(
            read_labels_csv(&path),
            Err(Error::Format { offset: 0, .. })
        ));
        // Windows line endings, spaces, a BOM and trailing blank lines are fine.
        std::fs::write(
            &path,
            "\u{feff}class, startTime_usec, endTime_usec\r\n11, 5, 10\r\n\r\n",
        )
        .expect("write");
        assert_eq!(
            read_labels_csv(&path).expect("labels"),
            vec![LabelWindow {
                class: 10,
                start_us: 5,
                end_us: 10
            }]
        );
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn cut_windows_half_open_and_unsorted() {
        let w = |class, start_us, end_us| LabelWindow {
            class,
            start_us,
            end_us,
        };
        let windows = [w(2, 10, 20), w(0, 15, 16), w(1, 30, 30), w(4, 0, 100)];
        let sorted = vec![
            e(1, 1, 0, 5),
            e(2, 2, 1, 10),
            e(3, 3, 0, 15),
            e(4, 4, 1, 19),
            e(5, 5, 0, 20),
            e(6, 6, 1, 30),
        ];
        let got = cut_windows(&sorted, &windows);
        assert_eq!(
            got,
            vec![
                (vec![e(2, 2, 1, 0), e(3, 3, 0, 5), e(4, 4, 1, 9)], 2),
                (vec![e(3, 3, 0, 0)], 0),
                (vec![], 1),
                (sorted.clone(), 4),
            ]
        );
        // Unsorted input: the same events per window, in input order.
        let mut unsorted = sorted.clone();
        unsorted.reverse();
        let got_u = cut_windows(&unsorted, &windows);
        for ((a, ca), (b, cb)) in got.iter().zip(&got_u) {
            assert_eq!(ca, cb);
            let mut b = b.clone();
            b.reverse();
            assert_eq!(*a, b);
        }
        assert!(cut_windows(&[], &windows).iter().all(|(v, _)| v.is_empty()));
        assert_eq!(CLASS_NAMES.len(), 11);
        assert_eq!(Split::Test.list_file(), "trials_to_test.txt");
    }
}
