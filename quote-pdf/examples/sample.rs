//! Writes a sample quote to a file (default /tmp/quote-sample.pdf) to look at the layout:
//! `cargo run -p quote-pdf --example sample [-- PATH]`.

use quote_pdf::{Document, Section, render};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/tmp/quote-sample.pdf".to_string());
    let mut years: Vec<(String, String)> = (2027..=2060)
        .map(|year| {
            let amount = 14_814 + (year - 2027) * 296;
            (
                format!("Uitkering {year}"),
                format!("€ {}.{:03},72", amount / 1000, amount % 1000),
            )
        })
        .collect();
    years.push((
        "Daarna".into(),
        "levenslang, jaarlijks geïndexeerd met 2%".into(),
    ));
    let doc = Document {
        title: "Offerte Direct Ingaand Zeker Pensioen".into(),
        subtitle: Some("Offertenummer DIP-2026-0000042 · 3 december 2026".into()),
        letterhead: vec![
            "Kantoor 12345".into(),
            "Voorbeeld Advies".into(),
            "Dorpsstraat 1".into(),
            "1234 AB  Ergenshuizen".into(),
        ],
        issuer: vec![
            "Allianz Nederland Levensverzekering N.V.".into(),
            "Postbus 64".into(),
            "3000 AB  Rotterdam".into(),
        ],
        sections: vec![
            Section {
                heading: "Verzekeringnemer en verzekerde".into(),
                rows: vec![
                    ("Naam".into(), "Mevrouw A.B. de Vries".into()),
                    ("Geboortedatum".into(), "14 februari 1961".into()),
                    (
                        "Partner (medeverzekerde)".into(),
                        "De heer Noël van 't Hoff, geboren 2 mei 1959".into(),
                    ),
                    ("Adres".into(), "Kerkstraat 12\n9999 ZZ  Ergens".into()),
                ],
            },
            Section {
                heading: "Uitkering".into(),
                rows: vec![
                    ("Koopsom".into(), "€ 250.000,00".into()),
                    ("Ingangsdatum".into(), "1 januari 2027".into()),
                    ("Bruto uitkering per maand".into(), "€ 1.234,56".into()),
                    (
                        "Uitkering bij overlijden (partner)".into(),
                        "70% (€ 864,19 per maand)".into(),
                    ),
                    (
                        "Toelichting".into(),
                        "De uitkering gaat direct in op de ingangsdatum en wordt levenslang \
                         maandelijks achteraf uitbetaald. Bij overlijden van de verzekerde gaat \
                         70% van de uitkering over op de partner."
                            .into(),
                    ),
                ],
            },
            Section {
                heading: "Uitkeringen per jaar".into(),
                rows: years,
            },
        ],
        footnotes: vec![
            "Aan deze offerte kunnen geen rechten worden ontleend. De offerte is geldig tot en \
             met 31 december 2026; daarna kunnen de tarieven en de rekenrente zijn gewijzigd."
                .into(),
            "De bedragen zijn bruto: over de uitkering houden wij loonheffing in. Het \
             Financieel Informatieblad en de Algemene Voorwaarden Direct Ingaand Zeker Pensioen \
             (AV-DIP 2026) maken deel uit van deze offerte; lees ze zorgvuldig door voordat u \
             een aanvraag indient."
                .into(),
        ],
    };
    let bytes = render(&doc)?;
    std::fs::write(&path, bytes)?;
    println!("{path}");
    Ok(())
}
