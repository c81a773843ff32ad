/* `summary_set` (SPEC 4.1): one sample per ageing set of the Oxford Performance Summary.
 *
 * Features: charge throughput (Ah), 0.1 s resistance (Ohm), temperature (K),
 * Arrhenius factor exp(-Ea / (R T)), 1000 / T; optionally days, energy throughput (Wh), set index
 * and a resistance-missing indicator. Targets: SoH (default), C/10 capacity (Ah), or the degradation
 * modes LAM_NE, LAM_PE, LLI. Resistance is measured every second RPT and stays NaN (missing). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset_internal.h"
#include "pipelines/pipeline_internal.h"

#define GAS_CONSTANT 8.314462618 /* J / (mol K) */

/* Store the dataset's cell ids in s; *ids (malloc'ed, caller frees) gets each cell's stored copy. */
static bml_status store_cell_ids(bml_samples *s, const bml_dataset *ds, const char ***ids) {
    const char **src = bml__calloc(ds->n_cells + 1, sizeof *src);
    *ids = bml__calloc(ds->n_cells + 1, sizeof **ids);
    if (!src || !*ids) {
        free(src);
        free(*ids);
        *ids = NULL;
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    for (size_t c = 0; c < ds->n_cells; c++) src[c] = ds->cells[c].cell_id;
    bml_status st = bml__samples_store_cells(s, src, ds->n_cells, *ids);
    free(src);
    if (st != BML_OK) {
        free(*ids);
        *ids = NULL;
    }
    return st;
}

typedef struct {
    char *target;
    double ea_kj_mol;
    char *temperature_source;
    int include_days, include_energy, include_set_index, missing_indicator, require_targets;
} summary_params;

#define OFF(f) offsetof(summary_params, f)
/* DAYS: include_days' default (latent_ode_seq: true, as its config and SPEC 4.3 say) */
#define SUMMARY_SPECS(OFFSET, DAYS)     {"target", BML__P_STRING, OFFSET(target), "soh", 1, 0, 0, "soh | capacity | modes (LAM_NE, LAM_PE, LLI)"}, \
    {"ea_kj_mol", BML__P_DOUBLE, OFFSET(ea_kj_mol), "50", 0, 1e4, 1, "activation energy of the Arrhenius feature, kJ/mol"}, \
    {"temperature_source", BML__P_STRING, OFFSET(temperature_source), "nominal", \
     1, 0, 0, "nominal (10/25/40 degC) | measured (set average, nominal where missing)"}, \
    {"include_days", BML__P_BOOL, OFFSET(include_days), DAYS, 1, 0, 0, "add days of degradation as a feature"}, \
    {"include_energy", BML__P_BOOL, OFFSET(include_energy), "false", 1, 0, 0, "add energy throughput (Wh)"}, \
    {"include_set_index", BML__P_BOOL, OFFSET(include_set_index), "false", 1, 0, 0, "add the ageing-set index"}, \
    {"missing_indicator", BML__P_BOOL, OFFSET(missing_indicator), "false", 1, 0, 0, \
     "add resistance_missing (1 where the 0.1 s resistance was not measured)"}, \
    {"require_targets", BML__P_BOOL, OFFSET(require_targets), "true", 1, 0, 0, \
     "fail on a missing target (false keeps the row with NaN targets, as `predict` does)"},

static const bml__param_spec specs[] = {SUMMARY_SPECS(OFF, "false")};

/* The column of a role summary_set reads: required (fails naming the role and the source) or optional (-1). */
static bml_status need(const bml_dataset *ds, int required, bml_role role, const char *what, int *col) {
    if (!required) {
        *col = bml__dataset_role_col(ds, role);
        return BML_OK;
    }
    return bml__dataset_need_role(ds, role, "pipeline summary_set", what, col);
}

static bml_status transform(const void *vp, const bml_dataset *ds, bml_samples **out) {
    const summary_params *p = vp;
    *out = NULL;
    if (!ds->n_cols) /* voltage curves: no rows of ageing sets or cycles */
        return bml__fail(BML_ERR_VALUE,
                         "pipeline summary_set needs Oxford Performance Summary data (data=oxford), raw cycler data "
                         "(data=cycler) or a table with its roles, not the voltage curves of source '%s'; use ica_peaks "
                         "for curves", bml_dataset_source(ds));
    bml_role troles[3];
    const char *tnames[3];
    size_t O;
    if (!strcmp(p->target, "soh")) {
        O = 1, troles[0] = BML_ROLE_SOH, tnames[0] = "soh";
    } else if (!strcmp(p->target, "capacity")) {
        O = 1, troles[0] = BML_ROLE_CAPACITY_AH, tnames[0] = "capacity_ah";
    } else if (!strcmp(p->target, "modes")) {
        O = 3;
        troles[0] = BML_ROLE_LAM_NE, tnames[0] = "LAM_NE";
        troles[1] = BML_ROLE_LAM_PE, tnames[1] = "LAM_PE";
        troles[2] = BML_ROLE_LLI, tnames[2] = "LLI";
    } else {
        return bml__fail(BML_ERR_VALUE, "pipeline summary_set: unknown target '%s' (valid: soh, capacity, modes)", p->target);
    }
    int measured = !strcmp(p->temperature_source, "measured");
    if (!measured && strcmp(p->temperature_source, "nominal"))
        return bml__fail(BML_ERR_VALUE, "pipeline summary_set: temperature_source must be nominal or measured, got '%s'",
                         p->temperature_source);
    /* the columns it reads, by role: the features', the targets', and the samples' meta (optional) */
    int c_q, c_r, c_tm, c_days, c_e, c_set, c_cycle, tcols[3];
    BML__TRY(need(ds, 1, BML_ROLE_THROUGHPUT_AH, "the feature charge_throughput_ah", &c_q));
    BML__TRY(need(ds, 1, BML_ROLE_RESISTANCE_OHM, "the feature resistance_ohm", &c_r));
    BML__TRY(need(ds, measured, BML_ROLE_TEMPERATURE_MEASURED, "temperature_source=measured", &c_tm));
    BML__TRY(need(ds, p->include_days, BML_ROLE_TIME, "the feature days (include_days)", &c_days));
    BML__TRY(need(ds, p->include_energy, BML_ROLE_ENERGY_WH, "the feature energy_throughput_wh (include_energy)", &c_e));
    BML__TRY(need(ds, p->include_set_index, BML_ROLE_SET_INDEX, "the feature set_index (include_set_index)", &c_set));
    c_cycle = bml__dataset_role_col(ds, BML_ROLE_CYCLE);
    for (size_t k = 0; k < O; k++) {
        char *what = bml__sprintf("the target %s (target=%s)", tnames[k], p->target);
        bml_status st = what ? need(ds, 1, troles[k], what, &tcols[k]) : bml__fail(BML_ERR_NOMEM, "out of memory");
        free(what);
        BML__TRY(st);
    }
    const char *fn[10];
    size_t F = 0;
    fn[F++] = "charge_throughput_ah";
    fn[F++] = "resistance_ohm";
    fn[F++] = "temperature_k";
    fn[F++] = "arrhenius";
    fn[F++] = "inv_temperature_1000_k";
    if (p->include_days) fn[F++] = "days";
    if (p->include_energy) fn[F++] = "energy_throughput_wh";
    if (p->include_set_index) fn[F++] = "set_index";
    if (p->missing_indicator) fn[F++] = "resistance_missing";

    size_t n = bml_dataset_n_rows(ds);
    if (n == 0) return bml__fail(BML_ERR_EMPTY, "pipeline summary_set: the dataset has no rows");
    bml_samples *s = bml__samples_alloc(n, F, O);
    if (!s) return bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t j = 0; j < F; j++)
        if (!(s->feature_names[j] = bml__strdup(fn[j]))) goto nomem;
    for (size_t k = 0; k < O; k++)
        if (!(s->target_names[k] = bml__strdup(tnames[k]))) goto nomem;
    const char **ids = NULL;
    if (store_cell_ids(s, ds, &ids) != BML_OK) goto nomem;
    double ea = p->ea_kj_mol * 1000.0;
    size_t i = 0;
#define COL(c) ((c) >= 0 ? v[c] : NAN) /* an optional role's value, NaN when the data have no such column */
    for (size_t c = 0; c < ds->n_cells; c++) {
        const bml__cell *cell = &ds->cells[c];
        for (size_t r = 0; r < cell->n_rows; r++, i++) {
            const double *v = cell->values + r * ds->n_cols;
            bml_sample_meta *m = &s->meta[i];
            m->experiment = cell->experiment;
            m->cell = ids[c];
            m->temperature_c = cell->temperature_c;
            m->set_index = c_set >= 0 ? (int)v[c_set] : (int)r; /* without one: the row's place in its cell */
            m->cycle = COL(c_cycle);
            m->days = COL(c_days);
            m->throughput_ah = v[c_q];
            m->line = cell->lines[r];
            double tc = cell->temperature_c;
            if (measured && !isnan(v[c_tm])) tc = v[c_tm];
            double tk = tc + 273.15;
            double *x = s->x + i * F;
            size_t j = 0;
            x[j++] = v[c_q];
            x[j++] = v[c_r];
            x[j++] = tk;
            x[j++] = exp(-ea / (GAS_CONSTANT * tk));
            x[j++] = 1000.0 / tk;
            if (p->include_days) x[j++] = v[c_days];
            if (p->include_energy) x[j++] = v[c_e];
            if (p->include_set_index) x[j++] = v[c_set];
            if (p->missing_indicator) x[j++] = isnan(v[c_r]) ? 1.0 : 0.0;
            for (size_t k = 0; k < O; k++) {
                double y = v[tcols[k]];
                if (!isfinite(y) && p->require_targets) {
                    int fc = cell->file_column[tcols[k]];
                    bml_samples_free(s);
                    free(ids);
                    if (fc > 0)
                        return bml__fail(BML_ERR_VALUE, "%s:%zu:%d: target '%s' is missing", cell->source, cell->lines[r], fc,
                                         bml__dataset_header(ds, (size_t)tcols[k]));
                    return bml__fail(BML_ERR_VALUE, "%s:%zu: target '%s' is missing", cell->source, cell->lines[r],
                                     bml__dataset_header(ds, (size_t)tcols[k]));
                }
                s->y[i * O + k] = y;
            }
        }
    }
#undef COL
    free(ids);
    *out = s;
    return BML_OK;
nomem:
    bml_samples_free(s);
    return bml__fail(BML_ERR_NOMEM, "out of memory");
}

/* ------------------------------------------------------------------ `latent_ode_seq` */
/* SPEC 4.3: one sample per cell, the sequence of its ageing sets; the summary_set features per step,
 * targets per step, time vector from `Days of degradation` (or charge throughput). Cells of different
 * lengths are padded and masked; a cell longer than max_seq_len is an error unless truncate is set. */
typedef struct {
    summary_params base; /* first member: the summary_set specs' offsets hold */
    long max_seq_len;
    int truncate;
    char *time;
} seq_params;

#define SOFF(f) offsetof(seq_params, base.f)
static const bml__param_spec seq_specs[] = {
    SUMMARY_SPECS(SOFF, "true")
    {"max_seq_len", BML__P_INT, offsetof(seq_params, max_seq_len), "0", 0, 1e6, 0, "maximum steps per cell (0: the longest cell)"},
    {"truncate", BML__P_BOOL, offsetof(seq_params, truncate), "false", 1, 0, 0,
     "cut cells longer than max_seq_len (false: such a cell is an error)"},
    {"time", BML__P_STRING, offsetof(seq_params, time), "days", 1, 0, 0, "time vector: days | throughput (Ah)"},
};

static bml_status seq_transform(const void *vp, const bml_dataset *ds, bml_samples **out) {
    const seq_params *p = vp;
    *out = NULL;
    int by_throughput = !strcmp(p->time, "throughput");
    if (!by_throughput && strcmp(p->time, "days"))
        return bml__fail(BML_ERR_VALUE, "pipeline latent_ode_seq: time must be days or throughput, got '%s'", p->time);
    int c_time;
    if (!by_throughput && ds->n_cols) /* the time vector: the data's time axis */
        BML__TRY(bml__dataset_need_role(ds, BML_ROLE_TIME, "pipeline latent_ode_seq", "the time vector (time=days)", &c_time));
    bml_samples *st = NULL;
    BML__TRY(transform(&p->base, ds, &st));
    /* cells are consecutive runs of rows with the same experiment and cell id */
    size_t n_cells = 0, longest = 0;
    for (size_t i = 0, len = 0; i < st->n; i++) {
        int same = i > 0 && st->meta[i].experiment == st->meta[i - 1].experiment && !strcmp(st->meta[i].cell, st->meta[i - 1].cell);
        len = same ? len + 1 : 1;
        n_cells += !same;
        if (len > longest) longest = len;
    }
    size_t T = longest;
    if (p->max_seq_len > 0 && longest > (size_t)p->max_seq_len) {
        if (!p->truncate) {
            bml_samples_free(st);
            return bml__fail(BML_ERR_VALUE,
                             "pipeline latent_ode_seq: a cell has %zu ageing sets, more than max_seq_len=%ld "
                             "(raise max_seq_len or set truncate=true)", longest, p->max_seq_len);
        }
        T = (size_t)p->max_seq_len;
    }
    size_t F = st->n_features, O = st->n_targets;
    bml_samples *s = bml__samples_alloc_seq(n_cells, T, F, O);
    if (!s) {
        bml_samples_free(st);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    for (size_t j = 0; j < F; j++) s->feature_names[j] = bml__strdup(st->feature_names[j]);
    for (size_t k = 0; k < O; k++) s->target_names[k] = bml__strdup(st->target_names[k]);
    if (bml__samples_copy_cells(s, st) != BML_OK) {
        bml_samples_free(st);
        goto nomem;
    }
    size_t c = (size_t)-1, step = 0;
    for (size_t i = 0; i < st->n; i++) {
        int same = i > 0 && st->meta[i].experiment == st->meta[i - 1].experiment && !strcmp(st->meta[i].cell, st->meta[i - 1].cell);
        if (!same) {
            c++;
            step = 0;
            bml__meta_copy(s, st, &s->meta[c], &st->meta[i]);
        }
        if (step < T) {
            size_t r = c * T + step;
            memcpy(s->x + r * F, st->x + i * F, F * sizeof *s->x);
            memcpy(s->y + r * O, st->y + i * O, O * sizeof *s->y);
            s->mask[r] = 1.0;
            s->t[r] = by_throughput ? st->meta[i].throughput_ah : st->meta[i].days;
            bml__meta_copy(s, st, &s->step_meta[r], &st->meta[i]);
        }
        step++;
    }
    bml_samples_free(st);
    for (size_t r = 0; s->cell_ids && r < n_cells * T; r++) /* padding: the storage's final empty string, never NULL */
        if (s->mask[r] == 0) s->step_meta[r].cell = s->cell_ids + s->cell_ids_size - 1;
    for (size_t j = 0; j < F; j++)
        if (!s->feature_names[j]) goto nomem;
    for (size_t k = 0; k < O; k++)
        if (!s->target_names[k]) goto nomem;
    *out = s;
    return BML_OK;
nomem:
    bml_samples_free(s);
    return bml__fail(BML_ERR_NOMEM, "out of memory");
}

const bml__pipeline_def bml__pipeline_latent_ode_seq = {
    "latent_ode_seq", "one sample per cell: the sequence of its ageing sets, padded and masked, with a time vector (SPEC 4.3)",
    seq_specs, sizeof seq_specs / sizeof *seq_specs, sizeof(seq_params), seq_transform, NULL, NULL};

const bml__pipeline_def bml__pipeline_summary_set = {
    "summary_set", "one sample per ageing set of the Oxford Performance Summary (SPEC 4.1)",
    specs, sizeof specs / sizeof *specs, sizeof(summary_params), transform, NULL, NULL};

/* ------------------------------------------------------------------ `table` */
/* One sample per row of a generic table; features and targets are the columns named as roles. */
typedef struct {
    int include_time;
} table_params;

static const bml__param_spec table_specs[] = {
    {"include_time", BML__P_BOOL, offsetof(table_params, include_time), "false", 1, 0, 0,
     "add the time column (data.time_column) as a feature"},
};

static bml_status table_transform(const void *vp, const bml_dataset *ds, bml_samples **out) {
    const table_params *p = vp;
    *out = NULL;
    size_t f0 = 0, t0 = 0, nf = bml_dataset_role_columns(ds, BML_ROLE_FEATURE, &f0),
           O = bml_dataset_role_columns(ds, BML_ROLE_TARGET, &t0);
    if (!nf || !O)
        return bml__fail(BML_ERR_VALUE, "pipeline table needs a generic table (data=table) with columns of roles 'feature' and "
                                        "'target', and the data of source '%s' have no '%s' column; use summary_set for Oxford "
                                        "data and ica_peaks for voltage curves", bml_dataset_source(ds), nf ? "target" : "feature");
    int c_time = bml__dataset_role_col(ds, BML_ROLE_TIME), has_time = c_time >= 0;
    size_t F = nf + (p->include_time && has_time ? 1 : 0);
    size_t n = bml_dataset_n_rows(ds);
    bml_samples *s = bml__samples_alloc(n, F, O);
    if (!s) return bml__fail(BML_ERR_NOMEM, "out of memory");
    size_t j = 0;
    if (p->include_time && has_time) s->feature_names[j++] = bml__strdup(ds->col_names[c_time]);
    for (size_t k = 0; k < nf; k++) s->feature_names[j++] = bml__strdup(ds->col_names[f0 + k]);
    for (size_t k = 0; k < O; k++) s->target_names[k] = bml__strdup(ds->col_names[t0 + k]);
    for (j = 0; j < F; j++)
        if (!s->feature_names[j]) goto nomem;
    for (j = 0; j < O; j++)
        if (!s->target_names[j]) goto nomem;
    const char **ids = NULL;
    if (store_cell_ids(s, ds, &ids) != BML_OK) goto nomem;
    size_t i = 0;
    for (size_t c = 0; c < ds->n_cells; c++) {
        const bml__cell *cell = &ds->cells[c];
        for (size_t r = 0; r < cell->n_rows; r++, i++) {
            const double *v = cell->values + r * ds->n_cols;
            bml_sample_meta *m = &s->meta[i];
            m->experiment = cell->experiment;
            m->cell = ids[c];
            m->temperature_c = cell->temperature_c;
            m->set_index = (int)r;
            m->cycle = NAN;
            m->days = has_time ? v[c_time] : NAN;
            m->throughput_ah = NAN;
            m->line = cell->lines[r];
            size_t jj = 0;
            if (p->include_time && has_time) s->x[i * F + jj++] = v[c_time];
            for (size_t k = 0; k < nf; k++) s->x[i * F + jj++] = v[f0 + k];
            for (size_t k = 0; k < O; k++) s->y[i * O + k] = v[t0 + k];
        }
    }
    free(ids);
    *out = s;
    return BML_OK;
nomem:
    bml_samples_free(s);
    return bml__fail(BML_ERR_NOMEM, "out of memory");
}

const bml__pipeline_def bml__pipeline_table = {
    "table", "one sample per row of a generic CSV table; features and targets from data.features / data.targets",
    table_specs, sizeof table_specs / sizeof *table_specs, sizeof(table_params), table_transform, NULL, NULL};
