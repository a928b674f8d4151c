// Reading JSON whose shape is not known yet (reviews, manifests, template files): the one test for
// "a map" (a JSON object: not null, not a list).
export type JsonObject = Record<string, unknown>;

export const isJsonObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);
