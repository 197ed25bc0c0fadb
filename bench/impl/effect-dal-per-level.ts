/** effect-dal with includes loaded per level (`includeStrategy: "perLevel"`), a strategy column (index.ts). */
import { makeWith } from "./effect-dal.js"

export const make = makeWith("perLevel")
