//! Renders a quote or application of the product portals (DIP, DIL, ORV) as an A4 PDF:
//! the insurer top left, the advisor's office (letterhead) top right, a title and subtitle,
//! sections of label/value rows and footnotes, with "Pagina x van n" at the bottom of every page.
//!
//! The text is set in the standard 14 fonts Helvetica and Helvetica-Bold with WinAnsiEncoding,
//! so no font file is embedded; characters WinAnsi cannot show print as `?`. Text is measured
//! with the fonts' AFM widths ([`text_width`]) and wrapped on word boundaries within its column
//! ([`wrap_text`]); the document continues on a new page when a page is full.
//!
//! The output is deterministic: no creation date or file identifier is written, so the same
//! [`Document`] always gives the same bytes.

mod metrics;

pub use metrics::{Font, decode_win_ansi, encode_win_ansi, text_width, wrap_text};

use layout::*;
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

/// One document: a letterhead (the advisor's office, SPEC P2: number, name, address), a title,
/// sections of label/value rows and footnotes.
#[derive(Debug, Clone, Default)]
pub struct Document {
    /// "Offerte Direct Ingaand Zeker Pensioen"; also the document's Title in its info dictionary.
    pub title: String,
    /// "Offertenummer DIP-2026-0000042 · 3 december 2026"
    pub subtitle: Option<String>,
    /// Office lines, printed top right: "Kantoor 12345", "Voorbeeld Advies", "Dorpsstraat 1",
    /// "1234 AB  Ergenshuizen".
    pub letterhead: Vec<String>,
    /// The insurer's lines printed top left (the first one in bold), e.g.
    /// "Allianz Nederland Levensverzekering".
    pub issuer: Vec<String>,
    /// The sections, in order.
    pub sections: Vec<Section>,
    /// Long sentences, wrapped; printed in a smaller size after the sections.
    pub footnotes: Vec<String>,
}

/// A section: a bold heading over a thin rule, then rows with the label in the left column and
/// the value in the right column. Long labels and values wrap within their column; a newline
/// in either forces a line break.
#[derive(Debug, Clone, Default)]
pub struct Section {
    /// The heading; an empty heading prints no heading and no rule.
    pub heading: String,
    /// `(label, value)` rows.
    pub rows: Vec<(String, String)>,
}

/// Why a document cannot be rendered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PdfError {
    /// The title is empty or blank.
    #[error("the document has no title")]
    EmptyTitle,
    /// The document needs more pages than a PDF file can hold objects for.
    #[error("the document would need {0} pages, too many for one PDF file")]
    TooManyPages(usize),
}

/// The page geometry and type sizes, in PDF points (1/72 inch).
pub mod layout {
    /// A4 width.
    pub const PAGE_WIDTH: f32 = 595.0;
    /// A4 height.
    pub const PAGE_HEIGHT: f32 = 842.0;
    /// Margin on all four sides; the page number is printed in the bottom margin.
    pub const MARGIN: f32 = 56.0;
    /// Width of the text area.
    pub const TEXT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;
    /// Width of the label column of the rows (45 % of the text width), gap included.
    pub const LABEL_COLUMN_WIDTH: f32 = TEXT_WIDTH * 0.45;
    /// White space between a label and its value column.
    pub const COLUMN_GAP: f32 = 12.0;
    /// Left edge of the value column.
    pub const VALUE_X: f32 = MARGIN + LABEL_COLUMN_WIDTH;
    /// Width of the value column.
    pub const VALUE_WIDTH: f32 = TEXT_WIDTH - LABEL_COLUMN_WIDTH;
    /// Width of the issuer block (top left) and of the letterhead block (top right).
    pub const HEADER_COLUMN_WIDTH: f32 = (TEXT_WIDTH - COLUMN_GAP) / 2.0;
    /// Issuer and letterhead lines.
    pub const HEADER_SIZE: f32 = 9.0;
    /// The title (bold).
    pub const TITLE_SIZE: f32 = 16.0;
    /// The subtitle.
    pub const SUBTITLE_SIZE: f32 = 10.0;
    /// Section headings (bold).
    pub const HEADING_SIZE: f32 = 11.0;
    /// Labels and values.
    pub const BODY_SIZE: f32 = 10.0;
    /// Footnotes.
    pub const FOOTNOTE_SIZE: f32 = 8.0;
    /// The page number.
    pub const FOOTER_SIZE: f32 = 8.0;
}

/// Producer written in the document information dictionary.
const PRODUCER: &str = "Offerte Portaal";

const TOP: f32 = PAGE_HEIGHT - MARGIN;
const BOTTOM: f32 = MARGIN;

const HEADER_LEADING: f32 = 12.0;
const TITLE_LEADING: f32 = 20.0;
const SUBTITLE_LEADING: f32 = 14.0;
const HEADING_LEADING: f32 = 15.0;
const BODY_LEADING: f32 = 13.0;
const FOOTNOTE_LEADING: f32 = 10.5;
/// White space between two rows.
const ROW_GAP: f32 = 3.0;
/// Baseline of the page number.
const FOOTER_BASELINE: f32 = MARGIN / 2.0;

const BLACK: f32 = 0.0;
const LABEL_GRAY: f32 = 0.3;
const SUBTLE_GRAY: f32 = 0.35;
const RULE_GRAY: f32 = 0.6;

/// Renders `doc` as a PDF file.
pub fn render(doc: &Document) -> Result<Vec<u8>, PdfError> {
    if doc.title.trim().is_empty() {
        return Err(PdfError::EmptyTitle);
    }
    let pages = lay_out(doc);
    write_pdf(doc, &pages)
}

/// Something drawn on a page.
#[derive(Debug)]
enum Item {
    /// One line of WinAnsi text with its baseline starting at (x, y).
    Text {
        x: f32,
        y: f32,
        font: Font,
        size: f32,
        gray: f32,
        bytes: Vec<u8>,
    },
    /// A horizontal line.
    Rule {
        x1: f32,
        x2: f32,
        y: f32,
        width: f32,
        gray: f32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

/// One column of a block of lines set side by side.
struct Column {
    x: f32,
    width: f32,
    align: Align,
    size: f32,
    gray: f32,
    /// The lines with the font of each.
    lines: Vec<(Font, Vec<u8>)>,
}

impl Column {
    /// A column of `text` wrapped to its width, every line in `font`.
    fn wrapped(
        text: &str,
        font: Font,
        size: f32,
        gray: f32,
        x: f32,
        width: f32,
        align: Align,
    ) -> Self {
        let lines = metrics::wrap(text, font, size, width)
            .into_iter()
            .map(|line| (font, line))
            .collect();
        Column {
            x,
            width,
            align,
            size,
            gray,
            lines,
        }
    }
}

/// The pages being filled, top to bottom; `y` is the top of the free space on the last page.
struct Pages {
    pages: Vec<Vec<Item>>,
    y: f32,
}

impl Pages {
    fn new() -> Self {
        Pages {
            pages: vec![Vec::new()],
            y: TOP,
        }
    }

    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = TOP;
    }

    fn at_top(&self) -> bool {
        self.y >= TOP
    }

    /// Moves to a new page unless `height` fits below `y` (or nothing is on this page yet).
    fn reserve(&mut self, height: f32) {
        if self.y - height < BOTTOM && !self.at_top() {
            self.new_page();
        }
    }

    /// Vertical white space; none at the top of a page.
    fn gap(&mut self, gap: f32) {
        if !self.at_top() {
            self.y = (self.y - gap).max(BOTTOM);
        }
    }

    fn push(&mut self, item: Item) {
        if let Some(page) = self.pages.last_mut() {
            page.push(item);
        }
    }

    /// Sets `columns` side by side, line by line, `leading` apart: the block stays on one page
    /// when it fits on one; a block taller than a page starts where it is and continues on the
    /// next page(s).
    fn block(&mut self, columns: &[Column], leading: f32) {
        let rows = columns.iter().map(|c| c.lines.len()).max().unwrap_or(0);
        let height = rows as f32 * leading;
        if height <= TOP - BOTTOM {
            self.reserve(height);
        }
        for row in 0..rows {
            if self.y - leading < BOTTOM {
                self.new_page();
            }
            for column in columns {
                let Some((font, line)) = column.lines.get(row) else {
                    continue;
                };
                let x = match column.align {
                    Align::Left => column.x,
                    Align::Right => {
                        column.x + column.width - metrics::bytes_width(*font, column.size, line)
                    }
                };
                self.push(Item::Text {
                    x,
                    y: baseline(self.y, column.size, leading),
                    font: *font,
                    size: column.size,
                    gray: column.gray,
                    bytes: line.clone(),
                });
            }
            self.y -= leading;
        }
    }

    /// A rule across the text width, `drop` below `y`; takes `drop + below` of height.
    fn rule(&mut self, drop: f32, below: f32, width: f32, gray: f32) {
        self.push(Item::Rule {
            x1: MARGIN,
            x2: MARGIN + TEXT_WIDTH,
            y: self.y - drop,
            width,
            gray,
        });
        self.y -= drop + below;
    }
}

/// The baseline of a line of type `size` in a line box of height `leading` whose top is `top`:
/// the glyphs (cap height about 0.72, descenders about 0.21 em) sit centred in the box.
fn baseline(top: f32, size: f32, leading: f32) -> f32 {
    top - (leading - size) / 2.0 - size * 0.78
}

/// Lays the document out on pages.
fn lay_out(doc: &Document) -> Vec<Vec<Item>> {
    let mut pages = Pages::new();

    // Header: the insurer top left (first line bold), the office right-aligned top right.
    let issuer_lines = doc
        .issuer
        .iter()
        .enumerate()
        .flat_map(|(i, line)| {
            let font = if i == 0 { Font::Bold } else { Font::Regular };
            metrics::wrap(line, font, HEADER_SIZE, HEADER_COLUMN_WIDTH)
                .into_iter()
                .map(move |l| (font, l))
        })
        .collect();
    let letterhead_lines = doc
        .letterhead
        .iter()
        .flat_map(|line| metrics::wrap(line, Font::Regular, HEADER_SIZE, HEADER_COLUMN_WIDTH))
        .map(|l| (Font::Regular, l))
        .collect();
    let header = [
        Column {
            x: MARGIN,
            width: HEADER_COLUMN_WIDTH,
            align: Align::Left,
            size: HEADER_SIZE,
            gray: BLACK,
            lines: issuer_lines,
        },
        Column {
            x: MARGIN + TEXT_WIDTH - HEADER_COLUMN_WIDTH,
            width: HEADER_COLUMN_WIDTH,
            align: Align::Right,
            size: HEADER_SIZE,
            gray: BLACK,
            lines: letterhead_lines,
        },
    ];
    if header.iter().any(|c| !c.lines.is_empty()) {
        pages.block(&header, HEADER_LEADING);
        pages.rule(10.0, 26.0, 0.5, RULE_GRAY);
    }

    // Title and subtitle.
    let title = Column::wrapped(
        &doc.title,
        Font::Bold,
        TITLE_SIZE,
        BLACK,
        MARGIN,
        TEXT_WIDTH,
        Align::Left,
    );
    pages.block(&[title], TITLE_LEADING);
    if let Some(subtitle) = &doc.subtitle {
        let subtitle = Column::wrapped(
            subtitle,
            Font::Regular,
            SUBTITLE_SIZE,
            SUBTLE_GRAY,
            MARGIN,
            TEXT_WIDTH,
            Align::Left,
        );
        pages.gap(2.0);
        pages.block(&[subtitle], SUBTITLE_LEADING);
    }
    pages.gap(10.0);

    // Sections.
    for section in &doc.sections {
        pages.gap(14.0);
        let rows: Vec<[Column; 2]> = section.rows.iter().map(|(l, v)| row(l, v)).collect();
        if !section.heading.trim().is_empty() {
            let heading = Column::wrapped(
                &section.heading,
                Font::Bold,
                HEADING_SIZE,
                BLACK,
                MARGIN,
                TEXT_WIDTH,
                Align::Left,
            );
            const RULE_DROP: f32 = 2.0;
            const RULE_BELOW: f32 = 6.0;
            // Keep the heading with the first row, when that row fits on a page at all.
            let heading_height =
                heading.lines.len() as f32 * HEADING_LEADING + RULE_DROP + RULE_BELOW;
            let first_row = rows.first().map_or(0.0, row_height);
            if heading_height + first_row <= TOP - BOTTOM {
                pages.reserve(heading_height + first_row);
            }
            pages.block(&[heading], HEADING_LEADING);
            pages.rule(RULE_DROP, RULE_BELOW, 0.6, RULE_GRAY);
        }
        for (i, columns) in rows.iter().enumerate() {
            if i > 0 {
                pages.gap(ROW_GAP);
            }
            pages.block(columns, BODY_LEADING);
        }
    }

    // Footnotes: line by line, so that a long one flows on to the next page.
    if !doc.footnotes.is_empty() {
        pages.gap(20.0);
    }
    for (i, footnote) in doc.footnotes.iter().enumerate() {
        if i > 0 {
            pages.gap(4.0);
        }
        for line in metrics::wrap(footnote, Font::Regular, FOOTNOTE_SIZE, TEXT_WIDTH) {
            let column = Column {
                x: MARGIN,
                width: TEXT_WIDTH,
                align: Align::Left,
                size: FOOTNOTE_SIZE,
                gray: LABEL_GRAY,
                lines: vec![(Font::Regular, line)],
            };
            pages.block(&[column], FOOTNOTE_LEADING);
        }
    }

    // The page number, right-aligned in the bottom margin of every page.
    let count = pages.pages.len();
    for (i, page) in pages.pages.iter_mut().enumerate() {
        let bytes = encode_win_ansi(&format!("Pagina {} van {count}", i + 1));
        page.push(Item::Text {
            x: MARGIN + TEXT_WIDTH - metrics::bytes_width(Font::Regular, FOOTER_SIZE, &bytes),
            y: FOOTER_BASELINE,
            font: Font::Regular,
            size: FOOTER_SIZE,
            gray: SUBTLE_GRAY,
            bytes,
        });
    }
    pages.pages
}

/// The two columns of a label/value row.
fn row(label: &str, value: &str) -> [Column; 2] {
    [
        Column::wrapped(
            label,
            Font::Regular,
            BODY_SIZE,
            LABEL_GRAY,
            MARGIN,
            LABEL_COLUMN_WIDTH - COLUMN_GAP,
            Align::Left,
        ),
        Column::wrapped(
            value,
            Font::Regular,
            BODY_SIZE,
            BLACK,
            VALUE_X,
            VALUE_WIDTH,
            Align::Left,
        ),
    ]
}

fn row_height(columns: &[Column; 2]) -> f32 {
    let lines = columns.iter().map(|c| c.lines.len()).max().unwrap_or(0);
    lines as f32 * BODY_LEADING
}

/// Writes the laid-out pages as a PDF file.
fn write_pdf(doc: &Document, pages: &[Vec<Item>]) -> Result<Vec<u8>, PdfError> {
    // Objects: catalog, page tree, info, two fonts, then a page and its content per page.
    let too_many = || PdfError::TooManyPages(pages.len());
    let objects = pages
        .len()
        .checked_mul(2)
        .and_then(|n| n.checked_add(5))
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(too_many)?;
    let page_count = i32::try_from(pages.len()).map_err(|_| too_many())?;
    // Ids 1..=objects, all within Ref's valid range.
    let catalog_id = Ref::new(1);
    let tree_id = Ref::new(2);
    let info_id = Ref::new(3);
    let regular_id = Ref::new(4);
    let bold_id = Ref::new(5);
    let page_ids: Vec<(Ref, Ref)> = (0..page_count)
        .map(|i| (Ref::new(6 + 2 * i), Ref::new(7 + 2 * i)))
        .collect();
    debug_assert_eq!(5 + 2 * page_count, objects);

    let mut pdf = Pdf::new();
    pdf.catalog(catalog_id)
        .pages(tree_id)
        .lang(TextStr("nl-NL"));
    pdf.pages(tree_id)
        .kids(page_ids.iter().map(|&(page, _)| page))
        .count(page_count);
    for (items, &(page_id, content_id)) in pages.iter().zip(&page_ids) {
        let mut page = pdf.page(page_id);
        page.parent(tree_id)
            .media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT))
            .contents(content_id);
        page.resources()
            .fonts()
            .pair(Name(Font::Regular.resource_name()), regular_id)
            .pair(Name(Font::Bold.resource_name()), bold_id);
        page.finish();
        let content = page_content(items);
        pdf.stream(content_id, &content);
    }
    for (font, id) in [(Font::Regular, regular_id), (Font::Bold, bold_id)] {
        pdf.type1_font(id)
            .base_font(Name(font.base_font()))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    pdf.document_info(info_id)
        .title(TextStr(&doc.title))
        .producer(TextStr(PRODUCER));
    Ok(pdf.finish())
}

/// The content stream of one page; every line of text is a text object of its own.
fn page_content(items: &[Item]) -> Vec<u8> {
    let mut content = Content::new();
    for item in items {
        match item {
            Item::Text {
                x,
                y,
                font,
                size,
                gray,
                bytes,
            } => {
                content.set_fill_gray(*gray);
                content
                    .begin_text()
                    .set_font(Name(font.resource_name()), *size)
                    .next_line(*x, *y)
                    .show(Str(bytes))
                    .end_text();
            }
            Item::Rule {
                x1,
                x2,
                y,
                width,
                gray,
            } => {
                content
                    .set_stroke_gray(*gray)
                    .set_line_width(*width)
                    .move_to(*x1, *y)
                    .line_to(*x2, *y)
                    .stroke();
            }
        }
    }
    content.finish().into_vec()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn an_empty_or_blank_title_is_an_error() {
        assert!(matches!(
            render(&Document::default()),
            Err(PdfError::EmptyTitle)
        ));
        let blank = Document {
            title: " \t".into(),
            ..Document::default()
        };
        assert!(matches!(render(&blank), Err(PdfError::EmptyTitle)));
    }

    #[test]
    fn a_row_taller_than_a_page_continues_on_the_next() {
        let value = "regel\n".repeat(80);
        let doc = Document {
            title: "Lang".into(),
            sections: vec![Section {
                heading: "Sectie".into(),
                rows: vec![("Label".into(), value)],
            }],
            ..Document::default()
        };
        let pages = lay_out(&doc);
        assert_eq!(pages.len(), 2);
        for page in &pages {
            for item in page {
                if let Item::Text { y, .. } = item {
                    assert!(*y >= FOOTER_BASELINE && *y <= TOP, "{y}");
                }
            }
        }
    }

    #[test]
    fn a_heading_is_kept_with_its_first_row() {
        // Whatever the number of rows before it, the second heading and its (three-line)
        // first row land on the same page; some of these counts put the heading at the
        // bottom of page 1.
        for before in 30..60 {
            let doc = Document {
                title: "Kop".into(),
                sections: vec![
                    Section {
                        heading: "Eerste".into(),
                        rows: (0..before)
                            .map(|i| (format!("Rij {i}"), "waarde".into()))
                            .collect(),
                    },
                    Section {
                        heading: "Tweede".into(),
                        rows: vec![("Label".into(), "waarde\nwaarde\nwaarde".into())],
                    },
                ],
                ..Document::default()
            };
            let pages = lay_out(&doc);
            let page_of = |text: &[u8]| {
                pages
                    .iter()
                    .position(|p| {
                        p.iter()
                            .any(|i| matches!(i, Item::Text { bytes, .. } if bytes == text))
                    })
                    .unwrap()
            };
            assert_eq!(
                page_of(b"Tweede"),
                page_of(b"Label"),
                "{before} rows before"
            );
        }
    }
}
