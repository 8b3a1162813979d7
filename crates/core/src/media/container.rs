//! Which containers Custodian opens, and what an upload looks like when it is not one of them.
//!
//! An upload is untrusted. FFmpeg's demuxers for playlists and lists (HLS, DASH, concat,
//! ffconcat, …) open the files they name, so a playlist naming another bureau's viewing copy
//! in the local store would be "catalogued" with that footage. Only self-contained containers
//! of the kinds cameras write are accepted; everything else is refused before decoding, with a
//! reason that says what the file looks like instead of FFmpeg's "Invalid data found".

/// FFmpeg demuxer names accepted for uploads. An FFmpeg demuxer whose name list (for example
/// `mov,mp4,m4a,3gp,3g2,mj2`) shares any name with this list is accepted.
pub const ACCEPTED_DEMUXERS: &[&str] = &[
    // Video, and sound in the same containers (M4A is an MP4; Opus travels in WebM or Ogg).
    "mov",
    "mp4",
    "m4a",
    "3gp",
    "3g2",
    "mj2",
    "matroska",
    "webm",
    "avi",
    "mpegts",
    // Sound recordings as phones and recorders write them.
    "mp3",
    "wav",
    "amr",
    "ogg",
    "aac",
    // Single photographs; never `image2`, which reads numbered sequences of other files.
    "jpeg_pipe",
    "png_pipe",
];

/// The accepted demuxers as FFmpeg's `format_whitelist` option takes them.
pub fn format_whitelist() -> String {
    ACCEPTED_DEMUXERS.join(",")
}

/// Whether an FFmpeg demuxer (its comma-separated name list) is accepted.
pub fn demuxer_accepted(names: &str) -> bool {
    names
        .split(',')
        .any(|name| ACCEPTED_DEMUXERS.contains(&name.trim()))
}

/// What the first bytes of a file say it is, for a refusal a person can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Looks {
    Empty,
    /// An ISO base media file (MP4/MOV/3GP): starts with an `ftyp`, `moov`, `mdat`, `wide`,
    /// `free` or `skip` box.
    IsoMedia,
    Matroska,
    Avi,
    MpegTs,
    /// A playlist or list that names other files: HLS, DASH, concat/ffconcat, SDP, …
    ReferencingList(&'static str),
    Archive(&'static str),
    Image(&'static str),
    /// A HEIF/HEIC photo (an ISO media file of image brand): FFmpeg here cannot decode it.
    Heic,
    /// A sound recording: MP3, WAV, AMR, Ogg.
    Sound(&'static str),
    Pdf,
    Text,
    Unknown,
}

impl Looks {
    /// Whether the file's first bytes look like a container Custodian accepts.
    pub fn is_accepted_container(self) -> bool {
        matches!(
            self,
            Looks::IsoMedia | Looks::Matroska | Looks::Avi | Looks::MpegTs
        )
    }
}

/// How many leading bytes `sniff` reads; more changes nothing.
pub const SNIFF_BYTES: usize = 4096;

/// Classifies a file by its first bytes (up to `SNIFF_BYTES`).
pub fn sniff(head: &[u8]) -> Looks {
    if head.is_empty() {
        return Looks::Empty;
    }
    if head.len() >= 12
        && &head[4..8] == b"ftyp"
        && matches!(
            &head[8..12],
            b"heic" | b"heix" | b"heim" | b"heis" | b"mif1" | b"msf1" | b"avif"
        )
    {
        return Looks::Heic;
    }
    if is_iso_media(head) {
        return Looks::IsoMedia;
    }
    if head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return Looks::Matroska;
    }
    if head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"AVI " {
        return Looks::Avi;
    }
    if head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WAVE" {
        return Looks::Sound("a WAV recording");
    }
    for (magic, what) in [
        (&b"ID3"[..], "an MP3 recording"),
        (&b"#!AMR"[..], "an AMR recording"),
        (&b"OggS"[..], "an Ogg recording"),
    ] {
        if head.starts_with(magic) {
            return Looks::Sound(what);
        }
    }
    if head.len() >= 2 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0 && head[1] & 0x06 != 0 {
        // An MPEG audio frame header (sync bits, a layer): MP3 without an ID3 tag.
        return Looks::Sound("an MP3 recording");
    }
    if is_mpeg_ts(head) {
        return Looks::MpegTs;
    }
    for (magic, what) in [
        (&b"PK\x03\x04"[..], "a ZIP archive"),
        (&b"\x1F\x8B"[..], "a gzip archive"),
        (&b"7z\xBC\xAF\x27\x1C"[..], "a 7-Zip archive"),
        (&b"Rar!\x1A\x07"[..], "a RAR archive"),
        (&b"BZh"[..], "a bzip2 archive"),
        (&b"\xFD7zXZ\x00"[..], "an xz archive"),
    ] {
        if head.starts_with(magic) {
            return Looks::Archive(what);
        }
    }
    if head.len() > 262 && &head[257..262] == b"ustar" {
        return Looks::Archive("a tar archive");
    }
    for (magic, what) in [
        (&b"\xFF\xD8\xFF"[..], "a JPEG image"),
        (&b"\x89PNG\r\n\x1A\n"[..], "a PNG image"),
        (&b"GIF8"[..], "a GIF image"),
    ] {
        if head.starts_with(magic) {
            return Looks::Image(what);
        }
    }
    if head.starts_with(b"%PDF-") {
        return Looks::Pdf;
    }
    if let Some(list) = referencing_list(head) {
        return Looks::ReferencingList(list);
    }
    if looks_like_text(head) {
        return Looks::Text;
    }
    Looks::Unknown
}

fn is_iso_media(head: &[u8]) -> bool {
    head.len() >= 8
        && matches!(
            &head[4..8],
            b"ftyp" | b"moov" | b"mdat" | b"wide" | b"free" | b"skip" | b"pnot"
        )
}

fn is_mpeg_ts(head: &[u8]) -> bool {
    // Sync bytes every 188 (plain) or 192 (M2TS, with a 4-byte timecode) bytes.
    [(188usize, 0usize), (192, 4)]
        .iter()
        .any(|&(stride, offset)| {
            let syncs = (0..3)
                .map(|i| offset + i * stride)
                .take_while(|&at| at < head.len())
                .collect::<Vec<_>>();
            syncs.len() >= 2 && syncs.iter().all(|&at| head[at] == 0x47)
        })
}

/// Text formats whose FFmpeg demuxer opens the files or addresses they name.
fn referencing_list(head: &[u8]) -> Option<&'static str> {
    let text = String::from_utf8_lossy(head);
    let text = text.trim_start_matches('\u{FEFF}').trim_start();
    let lower = text.to_ascii_lowercase();
    if lower.starts_with("#extm3u") || lower.contains("#ext-x-") {
        return Some("an HLS playlist");
    }
    if lower.starts_with("ffconcat") {
        return Some("an ffconcat list");
    }
    if lower.starts_with("file ") || lower.contains("\nfile ") {
        return Some("a concat list");
    }
    if lower.contains("<mpd") {
        return Some("a DASH manifest");
    }
    if lower.starts_with("v=0") {
        return Some("an SDP description");
    }
    if lower.starts_with("[playlist]") || lower.contains("<smil") || lower.contains("<asx") {
        return Some("a playlist");
    }
    None
}

fn looks_like_text(head: &[u8]) -> bool {
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        // A multi-byte character cut at the end of the window is still text.
        Err(e) if e.error_len().is_none() && e.valid_up_to() + 4 > head.len() => {
            match std::str::from_utf8(&head[..e.valid_up_to()]) {
                Ok(text) => text,
                Err(_) => return false,
            }
        }
        Err(_) => return false,
    };
    text.chars()
        .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t' | '\u{C}'))
}

/// Why a file that FFmpeg could not open as an accepted container is refused, in words for the
/// clip page. `demuxer` is the format FFmpeg's own probe recognised, if any.
pub fn refusal(looks: Looks, demuxer: Option<&str>) -> String {
    match (looks, demuxer) {
        (Looks::Empty, _) => "the file is empty".into(),
        (Looks::ReferencingList(what), _) => format!(
            "not a media file: it is {what}, which refers to other files; only self-contained \
             recordings are accepted"
        ),
        (Looks::IsoMedia, _) => {
            "truncated: the MP4/MOV file's index (moov) is missing or cut short".into()
        }
        (Looks::Matroska | Looks::Avi | Looks::MpegTs, _) => {
            "truncated or damaged: the container opened but its streams could not be read".into()
        }
        (Looks::Heic, _) => "a HEIC photo, which cannot be decoded here (this FFmpeg has no HEIF \
             reader): export it from the phone as JPEG and upload that"
            .into(),
        (Looks::Image(what) | Looks::Sound(what), _) => format!(
            "truncated or damaged: it looks like {what}, but no picture or sound could be read"
        ),
        (Looks::Archive(what), _) => format!("not a recording: it is {what}"),
        (Looks::Pdf, _) => "a PDF document, which is read as a document, not a recording".into(),
        (Looks::Text, _) => "not a media file: it is text".into(),
        (Looks::Unknown, Some(name)) if !demuxer_accepted(name) => format!(
            "not an accepted recording: FFmpeg reads it as `{name}`; accepted are video in \
             MP4/MOV, Matroska/WebM, AVI and MPEG-TS, sound in M4A, MP3, WAV, AMR and Ogg, and \
             JPEG or PNG photos"
        ),
        (Looks::Unknown, _) => {
            "not a media file: no known container starts with these bytes".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_camera_containers_and_refuses_referencing_demuxers() {
        for name in ["mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi", "mpegts"] {
            assert!(demuxer_accepted(name), "{name}");
        }
        for name in [
            "hls", "dash", "concat", "ffconcat", "image2", "lavfi", "sdp", "rtsp", "tty", "",
        ] {
            assert!(!demuxer_accepted(name), "{name}");
        }
        assert_eq!(
            format_whitelist().split(',').count(),
            ACCEPTED_DEMUXERS.len()
        );
    }

    #[test]
    fn sniffs_what_uploads_turn_out_to_be() {
        assert_eq!(sniff(b""), Looks::Empty);
        assert_eq!(sniff(b"\0\0\0\x20ftypisom\0\0\x02\0"), Looks::IsoMedia);
        assert_eq!(sniff(b"\x1A\x45\xDF\xA3\x9f"), Looks::Matroska);
        assert_eq!(sniff(b"RIFF\x10\0\0\0AVI LIST"), Looks::Avi);
        let mut ts = vec![0u8; 400];
        ts[0] = 0x47;
        ts[188] = 0x47;
        ts[376] = 0x47;
        assert_eq!(sniff(&ts), Looks::MpegTs);
        assert_eq!(
            sniff(b"#EXTM3U\n#EXTINF:10,\n/srv/custodian/blobs/b/copy.mp4\n"),
            Looks::ReferencingList("an HLS playlist")
        );
        assert_eq!(
            sniff(b"ffconcat version 1.0\nfile '/srv/x.mp4'\n"),
            Looks::ReferencingList("an ffconcat list")
        );
        assert_eq!(
            sniff(b"file '/srv/x.mp4'\n"),
            Looks::ReferencingList("a concat list")
        );
        assert_eq!(
            sniff(b"<?xml version=\"1.0\"?>\n<MPD xmlns=\"urn:mpeg:dash\">"),
            Looks::ReferencingList("a DASH manifest")
        );
        assert_eq!(sniff(b"PK\x03\x04rest"), Looks::Archive("a ZIP archive"));
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0"), Looks::Image("a JPEG image"));
        assert_eq!(sniff(b"\0\0\0\x18ftypheic\0\0\0\0"), Looks::Heic);
        assert_eq!(sniff(b"ID3\x04\0"), Looks::Sound("an MP3 recording"));
        assert_eq!(sniff(b"\xFF\xFB\x90\x64"), Looks::Sound("an MP3 recording"));
        assert_eq!(sniff(b"#!AMR\n"), Looks::Sound("an AMR recording"));
        assert_eq!(
            sniff(b"RIFF\x10\0\0\0WAVEfmt "),
            Looks::Sound("a WAV recording")
        );
        assert_eq!(sniff(b"%PDF-1.7\n"), Looks::Pdf);
        assert_eq!(sniff("执法记录 hello\n".as_bytes()), Looks::Text);
        assert_eq!(sniff(&[0x00, 0x9f, 0x13, 0x77, 0x01]), Looks::Unknown);
        // A character cut by the sniff window is still text.
        let cut = &"记录".as_bytes()[..4];
        assert_eq!(sniff(cut), Looks::Text);
    }

    #[test]
    fn refusals_say_what_is_wrong() {
        assert_eq!(refusal(Looks::Empty, None), "the file is empty");
        assert!(refusal(Looks::IsoMedia, Some("mov,mp4,m4a,3gp,3g2,mj2")).starts_with("truncated"));
        assert!(
            refusal(Looks::ReferencingList("an HLS playlist"), Some("hls"))
                .contains("HLS playlist")
        );
        assert!(refusal(Looks::Unknown, Some("flv")).contains("`flv`"));
        assert!(refusal(Looks::Heic, None).contains("HEIC"));
        assert!(refusal(Looks::Sound("an MP3 recording"), None).contains("MP3"));
        assert!(refusal(Looks::Text, None).contains("it is text"));
        assert!(refusal(Looks::Archive("a ZIP archive"), None).contains("ZIP"));
        assert!(refusal(Looks::Unknown, None).starts_with("not a media file"));
    }
}
