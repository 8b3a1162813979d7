//! PDF documents read by Poppler's tools, on real files made here: PDFs written byte by byte
//! (text pages, a scanned page), one encrypted by qpdf, and broken ones. Needs poppler-utils,
//! qpdf and ffmpeg (scripts/setup-system.sh installs them).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use custodian_media::{first_page_thumbnail, inspect_pdf, MediaError, MAX_TEXT_BYTES};
use custodian_platform::testing::pdf::{pdf, scanned_pdf, stream};

const PHRASE: &str = "Custodian inspection record 2026";
const LIMIT: Duration = Duration::from_secs(60);

/// `pages` letter pages, each with a line of Helvetica text: the phrase and its page number.
fn text_pdf(pages: usize) -> Vec<u8> {
    text_pdf_of(pages, 0)
}

/// As `text_pdf`, with `lines` more lines of text on each page, each line its own text object.
fn text_pdf_of(pages: usize, lines: usize) -> Vec<u8> {
    // 1 catalog, 2 page tree, 3 font, then each page and its content stream.
    let kids: Vec<String> = (0..pages).map(|i| format!("{} 0 R", 4 + 2 * i)).collect();
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        format!(
            "<< /Type /Pages /Kids [{}] /Count {pages} >>",
            kids.join(" ")
        )
        .into_bytes(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
    ];
    for i in 0..pages {
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] \
                 /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
                5 + 2 * i
            )
            .into_bytes(),
        );
        let mut content = format!(
            "BT /F1 24 Tf 72 700 Td ({PHRASE}) Tj 0 -40 Td (page {}) Tj ET",
            i + 1
        );
        for line in 0..lines {
            content.push_str(&format!(
                "\nBT /F1 4 Tf 20 {} Td ({PHRASE}, page {}, line {line}, seen) Tj ET",
                600 - 5 * line,
                i + 1
            ));
        }
        objects.push(stream("", content.as_bytes()));
    }
    pdf(&objects)
}

/// A page that is slow to draw and small to write: form XObjects nested `depth` deep, each
/// drawing the one below ten times, the last a filled square, so 10^depth squares.
fn slow_pdf(depth: usize) -> Vec<u8> {
    // 1 catalog, 2 page tree, 3 page, 4 its content, 5.. the forms, 5 the outermost.
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] \
          /Resources << /XObject << /F 5 0 R >> >> /Contents 4 0 R >>"
            .to_vec(),
        stream("", b"/F Do"),
    ];
    for level in 0..depth {
        let form = "/Type /XObject /Subtype /Form /BBox [0 0 612 792]";
        if level + 1 < depth {
            let draws: String = (0..10)
                .map(|i| format!("q 1 0 0 1 {i} 0 cm /F Do Q "))
                .collect();
            objects.push(stream(
                &format!(
                    "{form} /Resources << /XObject << /F {} 0 R >> >>",
                    6 + level
                ),
                draws.as_bytes(),
            ));
        } else {
            objects.push(stream(form, b"0.5 g 10 10 500 700 re f"));
        }
    }
    pdf(&objects)
}

struct Original {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl Original {
    fn write(dir: &Path, name: &str, bytes: Vec<u8>) -> Self {
        let path = dir.join(name);
        std::fs::write(&path, &bytes).expect("write the original");
        Self { path, bytes }
    }

    /// The tools only read the original: it is byte for byte what was written.
    fn assert_unchanged(&self) {
        let now = std::fs::read(&self.path).expect("read the original back");
        assert!(now == self.bytes, "{} was changed", self.path.display());
    }
}

/// Width and height from a JPEG's start-of-frame segment.
fn jpeg_size(jpeg: &[u8]) -> (u32, u32) {
    assert!(jpeg.starts_with(&[0xFF, 0xD8]), "not a JPEG");
    let mut at = 2;
    while at + 9 < jpeg.len() {
        assert_eq!(jpeg[at], 0xFF, "JPEG marker expected at {at}");
        let marker = jpeg[at + 1];
        let length = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        // SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC), which share the range.
        if (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker) {
            let height = u16::from_be_bytes([jpeg[at + 5], jpeg[at + 6]]);
            let width = u16::from_be_bytes([jpeg[at + 7], jpeg[at + 8]]);
            return (width.into(), height.into());
        }
        at += 2 + length;
    }
    panic!("no start-of-frame segment in the JPEG");
}

fn ffmpeg_jpeg(dir: &Path, width: u32, height: u32) -> Vec<u8> {
    let path = dir.join("scan.jpg");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc=size={width}x{height}"))
        .args(["-frames:v", "1"])
        .arg(&path)
        .status()
        .expect("ffmpeg runs (scripts/setup-system.sh installs it)");
    assert!(status.success(), "ffmpeg made no JPEG");
    std::fs::read(path).expect("read the JPEG")
}

fn qpdf(args: &[&str], input: &Path, output: &Path) {
    let status = Command::new("qpdf")
        .args(args)
        .arg("--")
        .arg(input)
        .arg(output)
        .status()
        .expect("qpdf runs (scripts/setup-system.sh installs it)");
    assert!(status.success(), "qpdf failed");
}

fn thumbnail(original: &Original, dir: &Path, max_side: u32) -> (u32, u32) {
    let output = dir.join("thumbnail.jpg");
    first_page_thumbnail(&original.path, &output, max_side, LIMIT).expect("thumbnail");
    original.assert_unchanged();
    let jpeg = std::fs::read(&output).expect("the thumbnail is there");
    assert!(jpeg.starts_with(&[0xFF, 0xD8]), "the thumbnail is a JPEG");
    std::fs::remove_file(&output).expect("remove the thumbnail");
    jpeg_size(&jpeg)
}

fn unreadable(result: Result<impl std::fmt::Debug, MediaError>) -> String {
    match result {
        Err(e @ MediaError::Unreadable(_)) => {
            assert!(e.is_permanent());
            assert_eq!(e.kind(), "unreadable");
            e.to_string()
        }
        other => panic!("expected an unreadable document, got {other:?}"),
    }
}

#[test]
fn text_pdf_has_its_pages_text_and_a_thumbnail() {
    let dir = tempfile::tempdir().expect("temp dir");
    let work = tempfile::tempdir().expect("work dir");
    // A name a tool would take for an option, were it passed as given.
    let original = Original::write(dir.path(), "-f 2.pdf", text_pdf(2));

    let facts = inspect_pdf(&original.path, work.path(), LIMIT).expect("inspect");
    original.assert_unchanged();
    assert_eq!(facts.pages, 2);
    assert!(facts.text.contains(PHRASE), "{:?}", facts.text);
    assert!(facts.text.contains("page 2"), "{:?}", facts.text);
    assert_eq!(facts.text, facts.text.trim());
    assert!(facts.has_text);
    assert!(!facts.encrypted);

    // A portrait page: its height is the longer side.
    assert_eq!(thumbnail(&original, dir.path(), 320).1, 320);
    let (width, height) = thumbnail(&original, dir.path(), 97);
    assert_eq!(width.max(height), 97);
    // Nothing is left behind beside the thumbnail but the original.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("-f 2.pdf")]);
}

#[test]
fn long_text_is_cut_at_the_cap() {
    let dir = tempfile::tempdir().expect("temp dir");
    // 400 pages of 100 lines of some 55 characters each: 2 MiB of text, twice what is kept.
    let original = Original::write(dir.path(), "long.pdf", text_pdf_of(400, 100));
    let facts = inspect_pdf(&original.path, dir.path(), LIMIT).expect("inspect");
    original.assert_unchanged();
    assert_eq!(facts.pages, 400);
    assert!(facts.text.len() <= MAX_TEXT_BYTES, "{}", facts.text.len());
    assert!(
        facts.text.len() > MAX_TEXT_BYTES - 100,
        "{}",
        facts.text.len()
    );
    assert!(facts.text.starts_with(PHRASE));
    assert!(!facts.text.contains("page 400,"), "the end was cut");
}

#[test]
fn scanned_page_has_no_text_but_renders() {
    let dir = tempfile::tempdir().expect("temp dir");
    let jpeg = ffmpeg_jpeg(dir.path(), 320, 240);
    let original = Original::write(dir.path(), "scan.pdf", scanned_pdf(&jpeg, 320, 240));

    let facts = inspect_pdf(&original.path, dir.path(), LIMIT).expect("inspect");
    original.assert_unchanged();
    assert_eq!(facts.pages, 1);
    assert!(!facts.has_text);
    assert_eq!(facts.text, "");

    // A landscape page: its width is the longer side, and the height follows (4:3).
    let (width, height) = thumbnail(&original, dir.path(), 200);
    assert_eq!(width, 200);
    assert!((149..=151).contains(&height), "{width}x{height}");
}

#[test]
fn broken_and_foreign_files_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = dir.path().join("thumbnail.jpg");
    let whole = text_pdf(2);

    let truncated = Original::write(dir.path(), "cut.pdf", whole[..whole.len() / 2].to_vec());
    let reason = unreadable(inspect_pdf(&truncated.path, dir.path(), LIMIT));
    truncated.assert_unchanged();
    assert!(reason.contains("the PDF is damaged"), "{reason}");
    let reason = unreadable(first_page_thumbnail(&truncated.path, &output, 100, LIMIT));
    truncated.assert_unchanged();
    assert!(reason.contains("the PDF is damaged"), "{reason}");
    eprintln!("truncated PDF: {reason}");

    let zip = Original::write(
        dir.path(),
        "archive.pdf",
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00statement.docx".to_vec(),
    );
    let reason = unreadable(inspect_pdf(&zip.path, dir.path(), LIMIT));
    zip.assert_unchanged();
    assert_eq!(
        reason,
        "the document could not be read: the file is not a PDF (it looks like a ZIP archive)"
    );
    let reason = unreadable(first_page_thumbnail(&zip.path, &output, 100, LIMIT));
    assert!(reason.contains("a ZIP archive"), "{reason}");

    let empty = Original::write(dir.path(), "empty.pdf", Vec::new());
    let reason = unreadable(inspect_pdf(&empty.path, dir.path(), LIMIT));
    assert!(reason.ends_with("the file is empty"), "{reason}");

    assert!(!output.exists(), "no thumbnail of a refused file");
}

#[test]
fn encrypted_pdfs_open_only_without_a_user_password() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plain = Original::write(dir.path(), "plain.pdf", text_pdf(2));

    let locked_path = dir.path().join("locked.pdf");
    qpdf(
        &["--encrypt", "user", "owner", "256"],
        &plain.path,
        &locked_path,
    );
    let locked = Original::write(
        dir.path(),
        "locked.pdf",
        std::fs::read(&locked_path).expect("read"),
    );
    let reason = unreadable(inspect_pdf(&locked.path, dir.path(), LIMIT));
    locked.assert_unchanged();
    assert!(reason.contains("encrypted with a password"), "{reason}");
    let output = dir.path().join("thumbnail.jpg");
    let reason = unreadable(first_page_thumbnail(&locked.path, &output, 100, LIMIT));
    locked.assert_unchanged();
    assert!(reason.contains("encrypted with a password"), "{reason}");
    assert!(!output.exists());

    // Only an owner password (no copying allowed): anyone can open it, so it is read.
    let restricted_path = dir.path().join("restricted.pdf");
    qpdf(
        &["--encrypt", "", "owner", "256", "--extract=n"],
        &plain.path,
        &restricted_path,
    );
    let restricted = Original::write(
        dir.path(),
        "restricted.pdf",
        std::fs::read(&restricted_path).expect("read"),
    );
    let facts = inspect_pdf(&restricted.path, dir.path(), LIMIT).expect("inspect");
    restricted.assert_unchanged();
    assert!(facts.encrypted);
    assert_eq!(facts.pages, 2);
    assert!(facts.text.contains(PHRASE), "{:?}", facts.text);
}

#[test]
fn a_spent_time_limit_stops_the_tools() {
    let dir = tempfile::tempdir().expect("temp dir");
    let original = Original::write(dir.path(), "doc.pdf", text_pdf(2));
    let output = dir.path().join("thumbnail.jpg");

    // A zero limit is spent before any tool starts, however fast it would have been.
    let stopped = inspect_pdf(&original.path, dir.path(), Duration::ZERO);
    assert!(
        matches!(stopped, Err(MediaError::Stopped(_))),
        "{stopped:?}"
    );
    let stopped = first_page_thumbnail(&original.path, &output, 100, Duration::ZERO);
    assert!(
        matches!(stopped, Err(MediaError::Stopped(_))),
        "{stopped:?}"
    );
    assert!(!stopped.is_err_and(|e| e.is_permanent()));
    assert!(!output.exists());
    original.assert_unchanged();
}

#[test]
fn a_tool_running_over_its_limit_is_killed() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Ten million squares at 2000 pixels: minutes of drawing, next to the 300 ms allowed.
    let original = Original::write(dir.path(), "slow.pdf", slow_pdf(7));
    let output = dir.path().join("thumbnail.jpg");
    let limit = Duration::from_millis(300);
    let started = Instant::now();
    let stopped = first_page_thumbnail(&original.path, &output, 2000, limit);
    let took = started.elapsed();
    assert!(
        matches!(stopped, Err(MediaError::Stopped(_))),
        "{stopped:?}"
    );
    // Returned once the tool was killed, not when it would have finished.
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert!(!output.exists());
    original.assert_unchanged();
    // The scratch directory went with it.
    assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1);
}

/// For the performance note: what a first-page thumbnail costs, and what rendering costs per
/// page across a 10-page document. Printed, not asserted.
#[test]
fn thumbnail_time_per_page() {
    let dir = tempfile::tempdir().expect("temp dir");
    let original = Original::write(dir.path(), "ten.pdf", text_pdf(10));
    let output = dir.path().join("thumbnail.jpg");

    let started = Instant::now();
    let facts = inspect_pdf(&original.path, dir.path(), LIMIT).expect("inspect");
    let inspected = started.elapsed();
    assert_eq!(facts.pages, 10);

    const RUNS: u32 = 5;
    let started = Instant::now();
    for _ in 0..RUNS {
        first_page_thumbnail(&original.path, &output, 320, LIMIT).expect("thumbnail");
    }
    let per_thumbnail = started.elapsed() / RUNS;

    // All ten pages in one pdftoppm run: the rendering itself, without a process per page.
    let pages = dir.path().join("pages");
    std::fs::create_dir(&pages).expect("mkdir");
    let started = Instant::now();
    let status = Command::new("pdftoppm")
        .args(["-jpeg", "-scale-to", "320", "--"])
        .arg(&original.path)
        .arg(pages.join("page"))
        .status()
        .expect("pdftoppm runs");
    let all_pages = started.elapsed();
    assert!(status.success());
    assert_eq!(std::fs::read_dir(&pages).expect("list").count(), 10);
    original.assert_unchanged();

    eprintln!(
        "10-page text PDF: inspect_pdf {inspected:?}; first_page_thumbnail (320 px) \
         {per_thumbnail:?} per call; pdftoppm on all 10 pages {all_pages:?}, {:?} per page",
        all_pages / 10
    );
}
