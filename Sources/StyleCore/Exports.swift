// A render's settings are values the compute core takes (`PosterSettings`, `RenderOptions`, `LossConfig`,
// `TileTask`, `GramTargets`, …); they live in RenderSettings so that the wire and job files need no compute core.
// Whoever imports the compute core sees them too.
@_exported import RenderSettings
