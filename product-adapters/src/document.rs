//! A quote as a PDF document (a `quote-pdf` rendering of [`Described`]): the insurer top
//! left, the quoting office's number, name and address top right (SPEC P2), the figures,
//! and the engine's notes as footnotes.

use quote_pdf::{Document, PdfError, Section};

use crate::adapter::Described;
use crate::forms::date_nl;
use crate::portal::ProductPortal;
use crate::store::quotes::StoredQuote;

/// The PDF of `quote`, as its portal describes it.
pub fn quote_pdf(portal: &ProductPortal, quote: &StoredQuote) -> Result<Vec<u8>, PdfError> {
    let ctx = portal.context();
    let described = portal.adapter().describe(ctx, quote);
    render(ctx.texts(), quote, described)
}

/// Renders a described quote.
pub fn render(
    texts: &web_kit::texts::Texts,
    quote: &StoredQuote,
    d: Described,
) -> Result<Vec<u8>, PdfError> {
    let t = |k: &str| texts.text(k);
    let o = &quote.office;
    let mut sections = vec![Section {
        heading: t("quote.advisor_section"),
        rows: vec![
            (t("quote.office"), format!("{} ({})", o.name, o.number)),
            (t("quote.advisor"), quote.advisor.name.clone()),
            (t("quote.tariff"), quote.tariff_version.clone()),
        ],
    }];
    sections.extend(d.sections);
    if let Some(a) = &quote.application {
        sections.push(Section {
            heading: t("application.title"),
            rows: vec![
                (t("application.applicant_name"), a.applicant_name.clone()),
                (t("application.received"), date_nl(a.created_at.date())),
            ],
        });
    }
    let mut footnotes = d.notes;
    footnotes.push(t("quote.pdf_footer"));
    render_document(&Document {
        title: d.title,
        subtitle: Some(format!(
            "{} {} · {}",
            t("quote.number"),
            quote.number(),
            date_nl(quote.created_at.date())
        )),
        letterhead: vec![
            format!("{} {}", t("quote.office_number"), o.number),
            o.name.clone(),
            o.address.clone(),
            format!("{}  {}", o.postcode, o.city),
        ],
        issuer: vec![t("quote.issuer"), t("quote.issuer_line")],
        sections,
        footnotes,
    })
}

fn render_document(doc: &Document) -> Result<Vec<u8>, PdfError> {
    quote_pdf::render(doc)
}
