/**
 * The model whose swap traffic `aiobench zero` replays: a GPT-style decoder (GPT-2/Megatron layout:
 * fused qkv, biases, two layer norms per layer, an MLP of 4 × hidden, the output head tied to the
 * token embedding). Only tensor sizes and the order modules run in matter to the swap schedule.
 *
 * @example
 * ```ts
 * const model = buildModel(shapeForParams(70e9)); // 71 layers × hidden 9088, ~70.4B parameters
 * ```
 *
 * @module
 */

/** The dimensions of a GPT-style decoder. */
export interface ModelShape {
  hidden: number;
  layers: number;
  vocab: number;
  /** Learned position embeddings (sequence length). */
  positions: number;
}

/** One parameter tensor. `id` is its DeepSpeed `ds_id` (zero.Init numbers them in creation order). */
export interface ModelTensor {
  id: number;
  name: string;
  numel: number;
}

/** One leaf module (what ZeRO-3 fetches at once): the ids of the tensors it uses. */
export interface ModelModule {
  name: string;
  tensors: number[];
}

/** Tensors in creation order, leaf modules in forward order (the tied head reuses the embedding). */
export interface Model {
  shape: ModelShape;
  tensors: ModelTensor[];
  modules: ModelModule[];
  /** Total parameter count (the tied head counted once). */
  params: number;
}

/** GPT-2's padded vocabulary and context length: the defaults when only a size is given. */
export const default_vocab = 50304;
export const default_positions = 2048;
const layer_numel_per_hidden_squared = 12;
const layer_numel_per_hidden = 13;

/** Parameters of a shape: embeddings + layers × (12h² + 13h) + the final norm. */
export function shapeParams(shape: ModelShape): number {
  const h = shape.hidden;
  const perLayer = layer_numel_per_hidden_squared * h * h + layer_numel_per_hidden * h;
  return (shape.vocab + shape.positions) * h + shape.layers * perLayer + 2 * h;
}

/**
 * A shape with about `params` parameters: hidden ≈ 128 × layers (the GPT-3 family's aspect ratio),
 * hidden a multiple of 128 (64 for small models), layers rounded to the nearest count.
 */
export function shapeForParams(
  params: number,
  options: { vocab?: number; positions?: number; hidden?: number; layers?: number } = {},
): ModelShape {
  if (!(params > 0) || !Number.isFinite(params)) {
    throw new RangeError(`parameter count ${params} must be a positive number`);
  }
  const vocab = options.vocab ?? default_vocab;
  const positions = options.positions ?? default_positions;
  const layersFor = (h: number) =>
    Math.round(
      (params - (vocab + positions + 2) * h) /
        (layer_numel_per_hidden_squared * h * h + layer_numel_per_hidden * h),
    );
  if (options.hidden !== undefined) {
    const layers = options.layers ?? Math.max(1, layersFor(options.hidden));
    return { hidden: options.hidden, layers, vocab, positions };
  }
  if (options.layers !== undefined) {
    // Solve 12·L·h² + (V + S + 2 + 13·L)·h = P for h, rounded to a multiple of 64.
    const a = layer_numel_per_hidden_squared * options.layers;
    const b = vocab + positions + 2 + layer_numel_per_hidden * options.layers;
    const h = (-b + Math.sqrt(b * b + 4 * a * params)) / (2 * a);
    return {
      hidden: Math.max(64, Math.round(h / 64) * 64),
      layers: options.layers,
      vocab,
      positions,
    };
  }
  let hidden = Math.max(128, Math.round(Math.cbrt((params * 128) / 12) / 128) * 128);
  while (hidden > 64 && layersFor(hidden) < 1) hidden -= 64;
  return { hidden, layers: Math.max(1, layersFor(hidden)), vocab, positions };
}

/** The tensors and leaf modules of a shape, in DeepSpeed's order. */
export function buildModel(shape: ModelShape): Model {
  for (const [key, value] of Object.entries(shape)) {
    if (!Number.isSafeInteger(value) || value < (key === "layers" ? 0 : 1)) {
      throw new RangeError(`model ${key} ${value} must be a positive integer`);
    }
  }
  const h = shape.hidden;
  const tensors: ModelTensor[] = [];
  const modules: ModelModule[] = [];
  const add = (module: string, parts: [string, number][]) => {
    const ids = parts.map(([name, numel]) => {
      tensors.push({ id: tensors.length, name: `${module}.${name}`, numel });
      return tensors.length - 1;
    });
    modules.push({ name: module, tensors: ids });
  };
  add("wte", [["weight", shape.vocab * h]]);
  add("wpe", [["weight", shape.positions * h]]);
  for (let l = 0; l < shape.layers; l++) {
    add(`h.${l}.ln_1`, [["weight", h], ["bias", h]]);
    add(`h.${l}.attn.c_attn`, [["weight", 3 * h * h], ["bias", 3 * h]]);
    add(`h.${l}.attn.c_proj`, [["weight", h * h], ["bias", h]]);
    add(`h.${l}.ln_2`, [["weight", h], ["bias", h]]);
    add(`h.${l}.mlp.c_fc`, [["weight", 4 * h * h], ["bias", 4 * h]]);
    add(`h.${l}.mlp.c_proj`, [["weight", 4 * h * h], ["bias", h]]);
  }
  add("ln_f", [["weight", h], ["bias", h]]);
  modules.push({ name: "lm_head", tensors: [0] });
  const params = tensors.reduce((sum, t) => sum + t.numel, 0);
  if (params !== shapeParams(shape)) throw new Error("model tensors disagree with shapeParams");
  return { shape, tensors, modules, params };
}

/** "70.4B", "355M": a parameter count for humans. */
export function formatParams(params: number): string {
  const units: [number, string][] = [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "K"]];
  for (const [scale, unit] of units) {
    if (params >= scale) return `${(params / scale).toFixed(params >= 100 * scale ? 0 : 1)}${unit}`;
  }
  return String(params);
}

/**
 * Parses a parameter count: `70B`, `1.3B`, `355M`, `7e9`, `125000000` (K/M/B/T are powers of
 * 1000, as model sizes are quoted). Returns undefined for anything else.
 */
export function parseParamCount(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*([kmbgt]?)\s*$/i.exec(text);
  if (!m) return undefined;
  const scale: Record<string, number> = { "": 1, k: 1e3, m: 1e6, b: 1e9, g: 1e9, t: 1e12 };
  const value = Math.round(Number(m[1]) * scale[m[2].toLowerCase()]);
  return Number.isSafeInteger(value) && value > 0 ? value : undefined;
}
