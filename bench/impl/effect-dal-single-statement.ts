/** effect-dal with includes loaded in one statement (`includeStrategy: "singleStatement"`), a strategy column (index.ts). */
import { makeWith } from "./effect-dal.js"

export const make = makeWith("singleStatement")
