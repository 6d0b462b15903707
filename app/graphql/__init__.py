"""The GraphQL edge: schema, types and converters, resolvers, context, view."""
