export const median = (values: ReadonlyArray<number>): number => {
  if (values.length === 0) throw new Error("the median of nothing")
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

export const geometricMean = (values: ReadonlyArray<number>): number => {
  if (values.length === 0) throw new Error("the geometric mean of nothing")
  return Math.exp(values.reduce((sum, value) => sum + Math.log(value), 0) / values.length)
}
