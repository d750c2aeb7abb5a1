/* azure.h: readers for the public Azure traces (Azure/AzurePublicDataset, CC BY 4.0).
 *
 *  - Azure LLM inference traces 2023 (Patel et al., "Splitwise", ISCA 2024): one request a line,
 *    `TIMESTAMP,ContextTokens,GeneratedTokens`, timestamps "YYYY-MM-DD HH:MM:SS.fffffff" with no
 *    time zone. Read into a trace_table: arrival_s relative to the first request, no model.
 *  - Azure Functions trace 2019 (Shahrad et al., "Serverless in the Wild", ATC 2020), the
 *    invocation-count files: `HashOwner,HashApp,HashFunction,Trigger,1,...,K`, one function a
 *    line, the invocations of each minute. Read as the top-F functions by total invocations.
 *
 * Timestamps are parsed exactly (integer calendar arithmetic, nanoseconds), never through
 * floating point or the C library's time zone machinery. */
#ifndef DB_AZURE_H
#define DB_AZURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "workloads/trace.h"

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (negative before 1970). */
int64_t azure_days_from_civil(int64_t y, int m, int d);
/* Parses "YYYY-MM-DD HH:MM:SS[.f...]" (1 to 9 fractional digits; no zone) from [b, e) into
 * seconds since 1970-01-01 00:00:00 and nanoseconds; false unless the whole text is exactly
 * that, with a real date (month 1-12, day within the month, leap years) and time (< 24:00:00). */
bool azure_parse_timestamp(const char *b, const char *e, int64_t *sec, int32_t *nsec);

/* Reads an Azure LLM inference CSV: R requests, arrival_s = time since the first request,
 * request_id = 0-based row, model TRACE_NO_MODEL, has_models false. Errors name FILE:LINE. */
db_status azure_llm_read(const char *path, trace_table *out);

/* The busiest functions of one Azure Functions invocation-count file, busiest first. */
typedef struct {
    size_t nfunc;       /* F: functions kept (min of the file's count and the number asked) */
    size_t nmin;        /* K: minute columns (1440 in the public files) */
    uint32_t *counts;   /* [F][K] invocations per minute */
    uint64_t *totals;   /* [F] invocations over the K minutes, non-increasing */
    size_t nrows;       /* functions in the file */
    uint64_t total_all; /* invocations of all functions in the file */
} azure_func;

/* Reads path keeping the top `top` functions by total invocations (ties: earlier line first);
 * top >= 1. Malformed lines are DB_ERR_FORMAT with FILE:LINE; out is zeroed first. */
db_status azure_func_read(const char *path, size_t top, azure_func *out);
/* Frees and zeroes f; NULL is fine. */
void azure_func_free(azure_func *f);

#endif
