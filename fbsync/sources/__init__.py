"""Where rows come from: the CRM (:mod:`.crm`), customer files (:mod:`.files`) and the push-down
(:mod:`.pushdown`, normalization and hashing inside PostgreSQL).  Only this package reads them."""
