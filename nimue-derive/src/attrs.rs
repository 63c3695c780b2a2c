//! The `#[nimue(...)]` attributes of a struct and of its fields.

use syn::{Attribute, LitStr, Path};

/// `#[nimue(crate = "path")]` on the struct.
pub(crate) struct ContainerAttrs {
    /// The crate that has `FromRow`, `RowView` and `Result` (default `::nimue`).
    pub krate: Path,
}

impl ContainerAttrs {
    pub fn parse(attrs: &[Attribute]) -> syn::Result<Self> {
        let mut krate: Path = syn::parse_quote!(::nimue);
        for attr in attrs.iter().filter(|a| a.path().is_ident("nimue")) {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("crate") {
                    let path: LitStr = meta.value()?.parse()?;
                    krate = path.parse()?;
                    Ok(())
                } else if meta.path.is_ident("rename") || meta.path.is_ident("flatten") {
                    Err(meta.error("`rename` and `flatten` go on a field, not on the struct"))
                } else {
                    Err(meta.error("unknown nimue attribute: the struct takes `crate = \"path\"`"))
                }
            })?;
        }
        Ok(ContainerAttrs { krate })
    }
}

/// `#[nimue(rename = "column")]` or `#[nimue(flatten)]` on a field.
#[derive(Default)]
pub(crate) struct FieldAttrs {
    /// The column to read instead of the field's name.
    pub rename: Option<LitStr>,
    /// Read the field as a whole `FromRow` from the same row.
    pub flatten: bool,
}

impl FieldAttrs {
    pub fn parse(attrs: &[Attribute]) -> syn::Result<Self> {
        let mut parsed = FieldAttrs::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident("nimue")) {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    if parsed.rename.is_some() {
                        return Err(meta.error("`rename` given twice"));
                    }
                    parsed.rename = Some(meta.value()?.parse()?);
                } else if meta.path.is_ident("flatten") {
                    parsed.flatten = true;
                } else {
                    return Err(meta.error(
                        "unknown nimue attribute: a field takes `rename = \"column\"` or `flatten`",
                    ));
                }
                if parsed.flatten && parsed.rename.is_some() {
                    return Err(meta.error(
                        "a flattened field reads many columns: it cannot be renamed (rename its fields)",
                    ));
                }
                Ok(())
            })?;
        }
        Ok(parsed)
    }
}
