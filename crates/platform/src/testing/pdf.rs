//! PDF files written byte by byte, as the document tests need them: pages of text, and a
//! scanned page (one JPEG the size of the page, no text). Small enough to read, and real
//! enough for Poppler: a cross-reference table with true offsets.

/// A PDF 1.4 file from its objects (numbered from 1 in order, object 1 the catalog), with a
/// cross-reference table whose offsets are counted as the file is written.
pub fn pdf(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        // Each entry is exactly 20 bytes, its end of line included.
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// A stream object: `dictionary` entries and `data`, with its length.
pub fn stream(dictionary: &str, data: &[u8]) -> Vec<u8> {
    let mut body = format!("<< {dictionary} /Length {} >>\nstream\n", data.len()).into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(b"\nendstream");
    body
}

/// One letter page per entry of `pages`, each a list of lines of Helvetica text (ASCII;
/// parentheses and backslashes are escaped).
pub fn text_pdf(pages: &[Vec<String>]) -> Vec<u8> {
    // 1 catalog, 2 page tree, 3 font, then each page and its content stream.
    let kids: Vec<String> = (0..pages.len())
        .map(|i| format!("{} 0 R", 4 + 2 * i))
        .collect();
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        format!(
            "<< /Type /Pages /Kids [{}] /Count {} >>",
            kids.join(" "),
            pages.len()
        )
        .into_bytes(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
    ];
    for (i, lines) in pages.iter().enumerate() {
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] \
                 /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
                5 + 2 * i
            )
            .into_bytes(),
        );
        let content: Vec<String> = lines
            .iter()
            .enumerate()
            .map(|(n, line)| {
                let escaped = line
                    .replace('\\', "\\\\")
                    .replace('(', "\\(")
                    .replace(')', "\\)");
                format!("BT /F1 14 Tf 72 {} Td ({escaped}) Tj ET", 700 - 20 * n)
            })
            .collect();
        objects.push(stream("", content.join("\n").as_bytes()));
    }
    pdf(&objects)
}

/// One page holding nothing but a JPEG the size of the page, as a scanner writes it.
pub fn scanned_pdf(jpeg: &[u8], width: u32, height: u32) -> Vec<u8> {
    let content = format!("q {width} 0 0 {height} 0 0 cm /Im1 Do Q");
    pdf(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width} {height}] \
             /Resources << /XObject << /Im1 4 0 R >> >> /Contents 5 0 R >>"
        )
        .into_bytes(),
        stream(
            &format!(
                "/Type /XObject /Subtype /Image /Width {width} /Height {height} \
                 /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode"
            ),
            jpeg,
        ),
        stream("", content.as_bytes()),
    ])
}
