//! Renders documents and reads the bytes back with lopdf: text (decoded by lopdf's own
//! WinAnsi table), page count, document info, and where every line of text was placed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use lopdf::content::Content;
use lopdf::{Object, ObjectId};
use quote_pdf::layout::{
    BODY_SIZE, FOOTNOTE_SIZE, HEADER_SIZE, LABEL_COLUMN_WIDTH, MARGIN, PAGE_WIDTH, TEXT_WIDTH,
    VALUE_WIDTH, VALUE_X,
};
use quote_pdf::{Document, Font, PdfError, Section, render, text_width};

const LETTERHEAD: [&str; 4] = [
    "Kantoor 12345",
    "Voorbeeld Advies",
    "Dorpsstraat 1",
    "1234 AB  Ergenshuizen",
];

fn quote() -> Document {
    Document {
        title: "Offerte Direct Ingaand Zeker Pensioen".into(),
        subtitle: Some("Offertenummer DIP-2026-0000042 · 3 december 2026".into()),
        letterhead: LETTERHEAD.iter().map(|s| s.to_string()).collect(),
        issuer: vec![
            "Allianz Nederland Levensverzekering N.V.".into(),
            "Postbus 64, 3000 AB Rotterdam".into(),
        ],
        sections: vec![
            Section {
                heading: "Verzekerde".into(),
                rows: vec![
                    ("Naam".into(), "Mevrouw A.B. de Vries-Ĳzerman".into()),
                    ("Geboortedatum".into(), "14 februari 1961".into()),
                    ("Partner".into(), "De heer Noël van 't Hoff (één keer gehuwd)".into()),
                ],
            },
            Section {
                heading: "Uitkering".into(),
                rows: vec![
                    ("Bruto uitkering per maand".into(), "€ 1.234,56".into()),
                    ("Koopsom".into(), "€ 250.000,00".into()),
                    (
                        "Toelichting".into(),
                        "De uitkering gaat direct in op de ingangsdatum en wordt levenslang \
                         maandelijks achteraf uitbetaald; bij overlijden gaat 70% over op de partner."
                            .into(),
                    ),
                ],
            },
        ],
        footnotes: vec![
            "Aan deze offerte kunnen geen rechten worden ontleend. De offerte is geldig tot en met 31 december 2026.".into(),
        ],
    }
}

/// One shown string: the font from the last Tf, the position from the last Td.
#[derive(Debug, Clone)]
struct Run {
    font: Font,
    size: f32,
    x: f32,
    y: f32,
    text: String,
}

impl Run {
    fn width(&self) -> f32 {
        text_width(&self.text, self.font, self.size)
    }
}

fn parse(bytes: &[u8]) -> lopdf::Document {
    lopdf::Document::load_mem(bytes).expect("the output parses as PDF")
}

fn page_ids(pdf: &lopdf::Document) -> Vec<ObjectId> {
    pdf.get_pages().into_values().collect()
}

/// The text of page `number` (1-based) as lopdf extracts it.
fn page_text(pdf: &lopdf::Document, number: u32) -> String {
    pdf.extract_text(&[number])
        .expect("lopdf extracts the text")
}

/// The strings shown on a page with font, size and position, decoded with lopdf's WinAnsi.
fn runs(pdf: &lopdf::Document, page: ObjectId) -> Vec<Run> {
    let fonts = pdf.get_page_fonts(page).unwrap();
    let content = Content::decode(&pdf.get_page_content(page)).unwrap();
    let (mut font, mut size, mut x, mut y) = (Font::Regular, 0.0, 0.0, 0.0);
    let mut encoding = None;
    let mut runs = Vec::new();
    for op in &content.operations {
        let number = |i: usize| op.operands[i].as_float().unwrap();
        match op.operator.as_str() {
            "Tf" => {
                let name = op.operands[0].as_name().unwrap();
                let dict = fonts[name];
                font = match dict.get(b"BaseFont").unwrap().as_name().unwrap() {
                    b"Helvetica" => Font::Regular,
                    b"Helvetica-Bold" => Font::Bold,
                    other => panic!("unexpected font {}", String::from_utf8_lossy(other)),
                };
                assert_eq!(
                    dict.get(b"Encoding").unwrap().as_name().unwrap(),
                    b"WinAnsiEncoding"
                );
                encoding = Some(dict.get_font_encoding(pdf).unwrap());
                size = number(1);
            }
            "Td" => (x, y) = (number(0), number(1)),
            "BT" => (x, y) = (0.0, 0.0),
            "Tj" => {
                let Object::String(bytes, _) = &op.operands[0] else {
                    panic!("Tj without a string")
                };
                let text = lopdf::Document::decode_text(encoding.as_ref().unwrap(), bytes).unwrap();
                runs.push(Run {
                    font,
                    size,
                    x,
                    y,
                    text,
                });
            }
            _ => {}
        }
    }
    runs
}

fn all_runs(pdf: &lopdf::Document) -> Vec<Vec<Run>> {
    page_ids(pdf).into_iter().map(|id| runs(pdf, id)).collect()
}

fn info_entry(pdf: &lopdf::Document, key: &[u8]) -> Option<Vec<u8>> {
    let info = pdf.trailer.get(b"Info").unwrap().as_reference().unwrap();
    let info = pdf.get_dictionary(info).unwrap();
    info.get(key).ok().map(|v| v.as_str().unwrap().to_vec())
}

#[test]
fn page_one_holds_title_letterhead_and_rows_with_the_euro_sign() {
    let bytes = render(&quote()).unwrap();
    assert!(bytes.starts_with(b"%PDF-"));
    let pdf = parse(&bytes);
    assert_eq!(page_ids(&pdf).len(), 1);
    let text = page_text(&pdf, 1);
    assert!(
        text.contains("Offerte Direct Ingaand Zeker Pensioen"),
        "{text}"
    );
    assert!(
        text.contains("Offertenummer DIP-2026-0000042 · 3 december 2026"),
        "{text}"
    );
    for line in LETTERHEAD {
        assert!(text.contains(line), "letterhead line {line:?} in {text}");
    }
    assert!(
        text.contains("Allianz Nederland Levensverzekering N.V."),
        "{text}"
    );
    assert!(text.contains("Bruto uitkering per maand"), "{text}");
    assert!(text.contains("€ 1.234,56"), "{text}");
    assert!(
        text.contains("De heer Noël van 't Hoff (één keer gehuwd)"),
        "{text}"
    );
    assert!(text.contains("Pagina 1 van 1"), "{text}");

    // The label and its value are on one line: the same baseline, in their columns.
    let runs = runs(&pdf, page_ids(&pdf)[0]);
    let label = runs
        .iter()
        .find(|r| r.text == "Bruto uitkering per maand")
        .unwrap();
    let value = runs.iter().find(|r| r.text == "€ 1.234,56").unwrap();
    assert_eq!(label.y, value.y);
    assert_eq!(label.x, MARGIN);
    assert_eq!(value.x, VALUE_X);
    // The title is Helvetica-Bold at 16 pt, the rows Helvetica at the body size.
    let title = runs
        .iter()
        .find(|r| r.text.starts_with("Offerte Direct"))
        .unwrap();
    assert_eq!((title.font, title.size), (Font::Bold, 16.0));
    assert_eq!((value.font, value.size), (Font::Regular, BODY_SIZE));
}

#[test]
fn the_euro_sign_is_win_ansi_0x80_in_the_content_stream() {
    let pdf = parse(&render(&quote()).unwrap());
    let content = pdf.get_page_content(page_ids(&pdf)[0]);
    let ops = Content::decode(&content).unwrap().operations;
    let shown: Vec<&[u8]> = ops
        .iter()
        .filter(|op| op.operator == "Tj")
        .map(|op| op.operands[0].as_str().unwrap())
        .collect();
    assert!(shown.contains(&b"\x80 1.234,56".as_slice()), "{shown:?}");
    assert!(shown.contains(&b"Geboortedatum".as_slice()));
}

#[test]
fn the_document_info_has_title_and_producer_and_no_date() {
    let pdf = parse(&render(&quote()).unwrap());
    // The title has no non-ASCII character, so it is written as a plain string.
    assert_eq!(
        info_entry(&pdf, b"Title").unwrap(),
        b"Offerte Direct Ingaand Zeker Pensioen"
    );
    assert_eq!(info_entry(&pdf, b"Producer").unwrap(), b"Offerte Portaal");
    assert_eq!(info_entry(&pdf, b"CreationDate"), None);
    assert_eq!(info_entry(&pdf, b"ModDate"), None);
    // A title with accents is a UTF-16 text string that decodes back.
    let doc = Document {
        title: "Offerte lijfrente – één €".into(),
        ..quote()
    };
    let pdf = parse(&render(&doc).unwrap());
    let title = info_entry(&pdf, b"Title").unwrap();
    assert_eq!(
        lopdf::decode_text_string(&Object::String(title, lopdf::StringFormat::Hexadecimal))
            .unwrap(),
        "Offerte lijfrente – één €"
    );
}

#[test]
fn every_line_stays_within_the_margins_and_the_letterhead_is_right_aligned() {
    let mut doc = quote();
    doc.letterhead.push(
        "Een heel lange kantoorregel die niet in de rechterkolom past en dus moet afbreken".into(),
    );
    doc.sections[0].rows.push((
        "Een label dat zo lang is dat het in de linkerkolom over twee regels moet".into(),
        "waarde".into(),
    ));
    let pdf = parse(&render(&doc).unwrap());
    let page = &all_runs(&pdf)[0];
    let right = PAGE_WIDTH - MARGIN;
    for run in page {
        assert!(run.x >= MARGIN - 0.01, "{run:?}");
        assert!(run.x + run.width() <= right + 0.01, "{run:?}");
        if !run.text.starts_with("Pagina") {
            assert!(run.y >= MARGIN, "{run:?}");
        }
    }
    for line in LETTERHEAD {
        let run = page.iter().find(|r| r.text == line).unwrap();
        assert_eq!(run.size, HEADER_SIZE);
        assert!((run.x + run.width() - right).abs() < 0.01, "{run:?}");
    }
    // The long letterhead line wrapped into right-aligned lines of the right half.
    let wrapped: Vec<&Run> = page
        .iter()
        .filter(|r| r.size == HEADER_SIZE && r.x > PAGE_WIDTH / 2.0)
        .collect();
    assert!(wrapped.len() >= LETTERHEAD.len() + 2, "{wrapped:?}");
    // The long label wrapped within the label column.
    let first_heading = page.iter().find(|r| r.text == "Verzekerde").unwrap();
    let label_lines: Vec<&Run> = page
        .iter()
        .filter(|r| r.x == MARGIN && r.size == BODY_SIZE && r.y < first_heading.y)
        .collect();
    assert!(label_lines.len() >= 6, "{label_lines:?}");
    assert!(
        label_lines.iter().all(|r| r.width() <= LABEL_COLUMN_WIDTH),
        "{label_lines:?}"
    );
    assert!(
        page.iter()
            .any(|r| r.text.starts_with("Een label dat zo lang"))
    );
    assert!(
        page.iter()
            .any(|r| r.text.ends_with("over twee regels moet"))
    );
}

#[test]
fn a_long_value_wraps_within_the_value_column() {
    let pdf = parse(&render(&quote()).unwrap());
    let page = &all_runs(&pdf)[0];
    let label = page.iter().find(|r| r.text == "Toelichting").unwrap();
    let lines: Vec<&Run> = page
        .iter()
        .filter(|r| r.x == VALUE_X && r.y <= label.y && r.y > label.y - 60.0)
        .collect();
    assert!(lines.len() >= 2, "{lines:?}");
    assert_eq!(lines[0].y, label.y);
    for line in &lines {
        assert!(line.width() <= VALUE_WIDTH, "{line:?}");
    }
    let joined: Vec<&str> = lines.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(
        joined.join(" "),
        "De uitkering gaat direct in op de ingangsdatum en wordt levenslang maandelijks \
         achteraf uitbetaald; bij overlijden gaat 70% over op de partner."
    );
}

#[test]
fn a_hundred_and_twenty_rows_run_over_several_pages() {
    let mut doc = quote();
    doc.sections.push(Section {
        heading: "Uitkeringen per jaar".into(),
        rows: (1..=120)
            .map(|i| (format!("Uitkering jaar {i}"), format!("€ {i}.000,00")))
            .collect(),
    });
    let pdf = parse(&render(&doc).unwrap());
    let pages = page_ids(&pdf).len();
    assert!(pages > 1, "{pages} pages");
    let texts: Vec<String> = (1..=pages as u32).map(|n| page_text(&pdf, n)).collect();
    for i in 1..=120 {
        let label = format!("Uitkering jaar {i}\n");
        let on = texts.iter().filter(|t| t.contains(&label)).count();
        assert_eq!(on, 1, "{label:?} on {on} pages");
    }
    for (n, text) in texts.iter().enumerate() {
        let footer = format!("Pagina {} van {pages}", n + 1);
        assert!(text.contains(&footer), "{footer:?} in {text}");
    }
    // Nothing below the bottom margin but the page number; a label shares its page and
    // baseline with its value.
    for page in all_runs(&pdf) {
        for run in &page {
            if run.y < MARGIN {
                assert!(run.text.starts_with("Pagina"), "{run:?}");
            }
            if let Some(i) = run.text.strip_prefix("Uitkering jaar ") {
                let value = format!("€ {i}.000,00");
                assert!(
                    page.iter().any(|r| r.text == value && r.y == run.y),
                    "{run:?}"
                );
            }
        }
    }
}

#[test]
fn a_six_hundred_character_footnote_wraps_within_the_text_width() {
    let sentence = "De hoogte van de uitkering is gebaseerd op de tarieven en de rekenrente van de datum van deze offerte. ";
    let mut footnote = sentence.repeat(6);
    footnote.truncate(600);
    let footnote = footnote.trim().to_string();
    assert!(footnote.chars().count() >= 590);
    let mut doc = quote();
    doc.footnotes = vec![footnote.clone()];
    let pdf = parse(&render(&doc).unwrap());
    let page = &all_runs(&pdf)[0];
    let lines: Vec<&Run> = page
        .iter()
        .filter(|r| r.size == FOOTNOTE_SIZE && !r.text.starts_with("Pagina"))
        .collect();
    assert!(lines.len() >= 3, "{lines:?}");
    for line in &lines {
        assert_eq!(line.x, MARGIN);
        assert!(line.width() <= TEXT_WIDTH, "{line:?}");
        // Full lines use most of the width: the wrapping is not needlessly short.
        if !std::ptr::eq(*line, *lines.last().unwrap()) {
            assert!(line.width() > TEXT_WIDTH * 0.85, "{line:?}");
        }
    }
    assert!(lines.windows(2).all(|w| w[1].y < w[0].y));
    let joined: Vec<&str> = lines.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(joined.join(" "), footnote);
}

#[test]
fn characters_outside_win_ansi_print_as_question_marks() {
    let mut doc = quote();
    doc.title = "Offerte → ORV 漢字".into();
    doc.sections[0]
        .rows
        .push(("Pijl".into(), "links ← of rechts → 😀".into()));
    let bytes = render(&doc).unwrap();
    let pdf = parse(&bytes);
    let text = page_text(&pdf, 1);
    assert!(text.contains("Offerte ? ORV ??"), "{text}");
    assert!(text.contains("links ? of rechts ? ?"), "{text}");
}

#[test]
fn parentheses_and_backslashes_survive() {
    let mut doc = quote();
    doc.sections[0].rows.push((
        "Pad (test)".into(),
        r"C:\offertes\(concept) ((a) b))\".into(),
    ));
    let pdf = parse(&render(&doc).unwrap());
    let text = page_text(&pdf, 1);
    assert!(text.contains("Pad (test)"), "{text}");
    assert!(text.contains(r"C:\offertes\(concept) ((a) b))\"), "{text}");
}

#[test]
fn the_same_document_gives_the_same_bytes() {
    let mut doc = quote();
    doc.sections.push(Section {
        heading: "Veel".into(),
        rows: (0..80)
            .map(|i| (format!("Rij {i}"), "x".repeat(i)))
            .collect(),
    });
    let first = render(&doc).unwrap();
    assert_eq!(first, render(&doc).unwrap());
    assert_eq!(first, render(&doc.clone()).unwrap());
    doc.title.push('!');
    assert_ne!(first, render(&doc).unwrap());
}

#[test]
fn an_empty_title_is_an_error() {
    let mut doc = quote();
    doc.title = String::new();
    assert!(matches!(render(&doc), Err(PdfError::EmptyTitle)));
    doc.title = "   ".into();
    assert!(matches!(render(&doc), Err(PdfError::EmptyTitle)));
    assert_eq!(
        PdfError::EmptyTitle.to_string(),
        "the document has no title"
    );
}

#[test]
fn a_minimal_document_is_one_page() {
    let doc = Document {
        title: "Alleen een titel".into(),
        sections: vec![
            Section::default(),
            Section {
                heading: "Leeg".into(),
                rows: vec![],
            },
        ],
        ..Document::default()
    };
    let pdf = parse(&render(&doc).unwrap());
    assert_eq!(page_ids(&pdf).len(), 1);
    let text = page_text(&pdf, 1);
    assert!(
        text.contains("Alleen een titel") && text.contains("Pagina 1 van 1"),
        "{text}"
    );
}
