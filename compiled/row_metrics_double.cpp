// compiled/row_metrics_double.cpp - every row metric over attention_view<double>, compiled once.
#define ATTNSCOPE_INSTANCE_ELEMENT double
#include "row_metrics.ipp"
