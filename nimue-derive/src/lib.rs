//! `#[derive(FromRow)]` for nimue (the facade's `derive` feature re-exports it as
//! `nimue::FromRow`, beside the trait of that name).
//!
//! Each named field reads the column of its name (`row.get("name")`); a tuple struct's fields
//! read the columns in order. Field attributes:
//!
//! - `#[nimue(rename = "column")]`: read another column;
//! - `#[nimue(flatten)]`: the field is itself `FromRow` and reads from the same row.
//!
//! The container attribute `#[nimue(crate = "path")]` names the crate that has `FromRow`
//! when it is not `nimue` (`nimue_core` for adapter crates). Mistakes are compile errors that
//! point at the attribute.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as Tokens};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, LitStr};

mod attrs;

use attrs::{ContainerAttrs, FieldAttrs};

/// Derive `FromRow`: read a row into this struct, each field from the column of its name.
#[proc_macro_derive(FromRow, attributes(nimue))]
pub fn derive_from_row(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as DeriveInput);
    expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// The `impl FromRow` for `input`, or the error to show where it went wrong.
fn expand(input: &DeriveInput) -> syn::Result<Tokens> {
    let container = ContainerAttrs::parse(&input.attrs)?;
    let krate = container.krate;
    let name = &input.ident;
    let fields = match &input.data {
        Data::Struct(data) => &data.fields,
        Data::Enum(data) => {
            return Err(syn::Error::new(
                data.enum_token.span(),
                "FromRow can be derived for structs only, not for enums",
            ))
        }
        Data::Union(data) => {
            return Err(syn::Error::new(
                data.union_token.span(),
                "FromRow can be derived for structs only, not for unions",
            ))
        }
    };
    let body = match fields {
        Fields::Named(named) => {
            let inits = named
                .named
                .iter()
                .map(|field| {
                    let ident = field.ident.as_ref().expect("a named field");
                    let attrs = FieldAttrs::parse(&field.attrs)?;
                    let column = attrs.rename.unwrap_or_else(|| {
                        LitStr::new(ident.to_string().trim_start_matches("r#"), ident.span())
                    });
                    let value = read(&krate, field, attrs.flatten, quote!(#column));
                    Ok(quote!(#ident: #value))
                })
                .collect::<syn::Result<Vec<_>>>()?;
            quote!(#name { #(#inits),* })
        }
        Fields::Unnamed(unnamed) => {
            let values = unnamed
                .unnamed
                .iter()
                .enumerate()
                .map(|(i, field)| {
                    let attrs = FieldAttrs::parse(&field.attrs)?;
                    if let Some(rename) = attrs.rename {
                        return Err(syn::Error::new(
                            rename.span(),
                            "a tuple struct reads its columns in order: `rename` needs a named field",
                        ));
                    }
                    if attrs.flatten {
                        return Err(syn::Error::new(
                            field.span(),
                            "`flatten` needs a named field (a tuple struct reads its columns in order)",
                        ));
                    }
                    Ok(read(&krate, field, false, quote!(#i)))
                })
                .collect::<syn::Result<Vec<_>>>()?;
            let arity = values.len();
            quote!({
                #krate::from_row_arity(row, #arity)?;
                #name(#(#values),*)
            })
        }
        Fields::Unit => {
            return Err(syn::Error::new(
                Span::call_site(),
                "FromRow needs a struct with fields: a unit struct reads nothing",
            ))
        }
    };
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics #krate::FromRow for #name #type_generics #where_clause {
            fn from_row(row: &#krate::RowView<'_>) -> #krate::Result<Self> {
                ::core::result::Result::Ok(#body)
            }
        }
    })
}

/// The expression that reads `field` from `row`: a cell at `index` (a column name or a
/// position), or the whole row for a flattened field.
fn read(krate: &syn::Path, field: &syn::Field, flatten: bool, index: Tokens) -> Tokens {
    let ty = &field.ty;
    if flatten {
        quote_spanned!(ty.span()=> <#ty as #krate::FromRow>::from_row(row)?)
    } else {
        quote_spanned!(ty.span()=> row.get::<#ty>(#index)?)
    }
}

#[cfg(test)]
mod tests;
